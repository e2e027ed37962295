// swift-tools-version:5.10
import PackageDescription

// No target has unsafe flags: SwiftPM refuses them in a dependency. Bounds and overflow checks
// stay on in every build (no -Ounchecked): kernels validate sizes and indices at the op and run
// their hot loops on unsafe pointers.
let package = Package(
    name: "Ember",
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .library(name: "EmberNN", targets: ["EmberNN"]),
        .library(name: "EmberOptim", targets: ["EmberOptim"]),
        .library(name: "EmberIO", targets: ["EmberIO"]),
        .library(name: "EmberModels", targets: ["EmberModels"]),
        .library(name: "EmberData", targets: ["EmberData"]),
        .library(name: "EmberTrain", targets: ["EmberTrain"]),
        .library(name: "EmberText", targets: ["EmberText"]),
        .library(name: "EmberDistributed", targets: ["EmberDistributed"]),
        .library(name: "EmberRuns", targets: ["EmberRuns"]),
        .library(name: "EmberServe", targets: ["EmberServe"]),
        .library(name: "EmberONNX", targets: ["EmberONNX"]),
        .executable(name: "ember", targets: ["EmberCLI"]),
        // Every file loader as a fuzz target, for Fuzz/ (libFuzzer) and the corpus replay test.
        .library(name: "EmberFuzzTargets", targets: ["EmberFuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (scripts/docs.sh); a plugin, linked into nothing.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // ember serve: HTTP (on SwiftNIO), Prometheus metrics, structured logs, graceful shutdown (Hummingbird's own).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HTTP field names beyond those Hummingbird re-exports (Hummingbird's own dependency).
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // ONNX models: the runtime only (onnx.pb.swift is generated once and committed, see
        // scripts/generate-onnx-proto.sh), so no build compiles protoc.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // Debian's libdnnl-dev: matmul, convolution, pooling and layer normalization kernels.
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN"),
        // Thread-local interpreter state, read on every dispatched operation, and parallel
        // loops on oneDNN's OpenMP thread pool (GNU libgomp).
        .target(name: "CEmberSupport", linkerSettings: [.linkedLibrary("gomp")]),
        // Vector exp, tanh, sigmoid, erf and GELU, compiled for the x86-64 baseline, AVX2 and
        // AVX-512 and chosen at run time: one binary runs on any x86-64 CPU, at AVX-512 speed where
        // the CPU has it.
        .target(name: "CEmberVectorMath"),
        .target(name: "Ember", dependencies: ["COneDNN", "CEmberSupport", "CEmberVectorMath"]),
        // Modules, layers, initializers, losses and metrics.
        .target(name: "EmberNN", dependencies: ["Ember", "EmberIO"]),
        // Optimizers, learning-rate schedules and gradient clipping.
        .target(name: "EmberOptim", dependencies: ["Ember", "EmberNN"]),
        // File formats: safetensors, NumPy .npy/.npz; gzip and zip reading.
        .target(name: "EmberIO", dependencies: ["Ember", "CZlib"]),
        // zlib: gzip and deflate for compressed data files.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Datasets, loaders, pipelines, image transforms and data file formats.
        .target(name: "EmberData", dependencies: ["Ember", "EmberIO", "CTurboJPEG"]),
        // libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev): JPEG decoding.
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        // fit, callbacks, progress bar, TensorBoard event files and training checkpoints.
        .target(name: "EmberTrain", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberIO", "EmberData", "EmberDistributed", "CZlib"]),
        // Open MPI (Debian's libopenmpi-dev), and a C shim exposing the handles that mpi.h
        // defines as macros (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) plus 16-bit float reductions.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CEmberMPI", dependencies: ["CMPI"]),
        // Process groups on MPI, DistributedDataParallel, DistributedSampler, SyncBatchNorm,
        // ZeRO's sharded optimizer, fully sharded data parallel, pipelines and pmap.
        .target(name: "EmberDistributed", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberData", "CMPI", "CEmberMPI"]),
        // Tokenizers: BERT's WordPiece and GPT-2's byte-level BPE, from Hugging Face files.
        .target(name: "EmberText", dependencies: ["Ember", "EmberIO"]),
        // The model zoo, Hugging Face model folders and sentence embeddings.
        .target(name: "EmberModels", dependencies: ["Ember", "EmberNN", "EmberIO", "EmberText"]),
        // Run folders as predictors: model cards, run settings, the model registry, preprocessing.
        .target(name: "EmberRuns", dependencies: ["Ember", "EmberNN", "EmberIO", "EmberData", "EmberText", "EmberModels", "EmberTrain"]),
        // ember serve: TensorFlow Serving's REST API and the Open Inference Protocol over a model repository.
        .target(name: "EmberServe", dependencies: ["Ember", "EmberData", "EmberModels", "EmberRuns", "EmberONNX",
                                                   .product(name: "Hummingbird", package: "hummingbird"),
                                                   .product(name: "HTTPTypes", package: "swift-http-types"),
                                                   .product(name: "Prometheus", package: "swift-prometheus"),
                                                   .product(name: "Logging", package: "swift-log"),
                                                   .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // ONNX export and import: Ember graphs to ONNX models and back, checked against onnxruntime.
        .target(name: "EmberONNX", dependencies: ["Ember", "EmberNN", "EmberIO", "EmberModels",
                                                  .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto/onnx.proto"]),
        .target(name: "EmberFuzzTargets", dependencies: ["Ember", "EmberIO", "EmberData", "EmberText", "EmberModels", "EmberTrain", "EmberRuns", "EmberONNX"]),
        .executableTarget(
            name: "EmberCLI",
            dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberIO", "EmberModels", "EmberData", "EmberTrain", "EmberText", "EmberDistributed",
                           "EmberRuns", "EmberServe", "EmberONNX", .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Examples/: small programs for the README's tour; CI builds them with the tests.
        .executableTarget(name: "example-training-loop", dependencies: ["Ember", "EmberNN", "EmberOptim"], path: "Examples/TrainingLoop"),
        .executableTarget(name: "example-fit", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberData", "EmberTrain", "EmberModels"],
                          path: "Examples/Fit"),
        .executableTarget(name: "example-transforms", dependencies: ["Ember"], path: "Examples/Transforms"),
        .executableTarget(name: "example-gpt", dependencies: ["Ember", "EmberData", "EmberModels", "EmberNN", "EmberOptim"], path: "Examples/GPT"),
        .executableTarget(name: "example-sentence-embeddings", dependencies: ["Ember", "EmberModels", "EmberText"],
                          path: "Examples/SentenceEmbeddings"),
        .executableTarget(name: "example-simple-attention", dependencies: ["Ember", "EmberNN"], path: "Examples/SimpleAttention"),
        .executableTarget(name: "example-functional", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberData", "EmberTrain"],
                          path: "Examples/Functional"),
        // The SimpleAttention test checks the example's module against PyTorch.
        .testTarget(name: "EmberTests", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberIO", "EmberModels", "EmberText", "example-simple-attention"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "EmberTextTests", dependencies: ["Ember", "EmberText"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EmberDataTests", dependencies: ["Ember", "EmberIO", "EmberData"], exclude: ["Formats/numpy_fixtures.py", "generate_transform_fixtures.py", "Formats/generate_image_fixtures.py",
                             "Formats/generate_tfrecord_fixtures.py", "Formats/generate_jpeg_fixtures.py"],
                    resources: [.copy("Formats/ImageFixtures"), .copy("Formats/TFRecordFixtures"), .copy("Formats/JPEGFixtures")]),
        .testTarget(name: "EmberCLITests", dependencies: ["EmberCLI", "Ember", "EmberNN", "EmberTrain", "EmberData", "EmberText", "EmberRuns",
                                                         "EmberModels", "EmberONNX",
                                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The programs each rank runs in the distributed tests, which launch them with mpirun.
        .executableTarget(name: "ember-distributed-checks", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberData", "EmberModels", "EmberTrain", "EmberDistributed"],
                          path: "Tests/DistributedChecks"),
        // bench/sharding.sh: memory per rank of DDP, ZeRO-1/2 and FSDP, and pipeline bubbles, under mpirun.
        .executableTarget(name: "ember-sharding-bench", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberDistributed", "EmberModels"],
                          path: "bench/ShardingBench"),
        .testTarget(name: "EmberDistributedTests", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberData", "EmberDistributed", "EmberModels",
                                                                 "ember-distributed-checks"]),
        .testTarget(name: "EmberServeTests", dependencies: ["EmberServe", "EmberRuns", "Ember", "EmberData", "EmberNN", "EmberOptim", "EmberTrain",
                                                           "EmberONNX"]),
        // The fixtures and the onnxruntime script are read from the source tree (#filePath).
        .testTarget(name: "EmberONNXTests", dependencies: ["EmberONNX", "Ember", "EmberNN", "EmberIO", "EmberModels"],
                    exclude: ["Fixtures", "check_onnx_export.py", "backend-suite-results.md"]),
        .testTarget(name: "EmberTrainTests", dependencies: ["Ember", "EmberNN", "EmberOptim", "EmberIO", "EmberData", "EmberTrain", "EmberModels",
                                                           "EmberFuzzTargets"]),
    ]
)
