// swift-tools-version:5.10
// The loaders' fuzz targets as one libFuzzer binary; built by scripts/fuzz.sh with
// `-sanitize=fuzzer,address` (coverage-guided, with AddressSanitizer), not by the main
// package's build.
import PackageDescription

let package = Package(
    name: "EmberFuzz",
    dependencies: [.package(name: "Ember", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "ember-fuzz", dependencies: ["CFuzzerDriver", .product(name: "EmberFuzzTargets", package: "Ember")]),
    ]
)
