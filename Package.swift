// swift-tools-version:5.10
import PackageDescription

let package = Package(
    name: "Ember",
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .executable(name: "ember", targets: ["EmberCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Debian's libdnnl-dev: matmul, convolution, pooling and layer normalization kernels.
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN"),
        // Thread-local interpreter state, read on every dispatched operation.
        .target(name: "CEmberSupport"),
        .target(
            name: "Ember",
            dependencies: ["COneDNN", "CEmberSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "EmberCLI",
            dependencies: ["Ember", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "EmberTests", dependencies: ["Ember"], resources: [.copy("Fixtures")]),
    ]
)
