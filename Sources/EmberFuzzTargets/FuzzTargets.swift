import Ember
import EmberData
import EmberIO
import EmberModels
import EmberONNX
import EmberRuns
import EmberText
import EmberTrain
import Foundation

/// Every file loader as a fuzz target: a function from a file's bytes to the loader's
/// verdict. A loader must answer any bytes with a value or a thrown error, never a crash, a
/// hang or unbounded memory. `Fuzz/` builds them into one libFuzzer binary
/// (`scripts/fuzz.sh`); the tests replay the committed corpora (`Fuzz/Corpus/TARGET/`).
public enum FuzzTargets {
    /// A target: the file name the bytes are written to, and the loader run on it.
    public struct Target: Sendable {
        public let name: String
        let fileName: String
        let load: @Sendable (URL) throws -> Void
    }

    public static let all: [Target] = [
        Target(name: "safetensors", fileName: "model.safetensors") { _ = try SafeTensors.read(contentsOf: $0) },
        Target(name: "npy", fileName: "array.npy") { _ = try NumPy.load(contentsOf: $0) },
        // An .npz is a zip archive of .npy files: the zip reader and inflate.
        Target(name: "npz", fileName: "arrays.npz") { _ = try NumPy.loadArchive(contentsOf: $0) },
        Target(name: "gzip", fileName: "data.gz") { _ = try Compression.gunzip(Data(contentsOf: $0), source: $0.path) },
        Target(name: "png", fileName: "image.png") { _ = try Image(contentsOf: $0, maximumPixels: 1 << 20) },
        // libjpeg-turbo behind the TurboJPEG API, and the EXIF orientation reader.
        Target(name: "jpeg", fileName: "image.jpg") { _ = try Image(contentsOf: $0, maximumPixels: 1 << 20) },
        Target(name: "netpbm", fileName: "image.ppm") { _ = try Image(contentsOf: $0, maximumPixels: 1 << 20) },
        Target(name: "idx", fileName: "train-images-idx3-ubyte") { _ = try IDXArray(contentsOf: $0) },
        Target(name: "cifar", fileName: "test_batch.bin") { url in
            let dataset = try CIFAR10(directory: url.deletingLastPathComponent(), split: .test)
            if dataset.count > 0 { _ = dataset[0] }
        },
        Target(name: "csv", fileName: "table.csv") { url in
            let dataset = try CSVClassification(contentsOf: url, label: .nameOrLast("label"))
            if dataset.count > 0 { _ = dataset[0] }
        },
        Target(name: "tokenizer-json", fileName: "tokenizer.json") { url in
            try encodeSample(loadTokenizer(folder: url.deletingLastPathComponent()))
        },
        Target(name: "vocab-txt", fileName: "vocab.txt") { url in
            try encodeSample(loadTokenizer(folder: url.deletingLastPathComponent()))
        },
        // vocab.json and merges.txt in one input, split at the first NUL byte.
        Target(name: "bpe", fileName: "vocab-and-merges") { url in
            let bytes = try Data(contentsOf: url)
            let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
            let folder = url.deletingLastPathComponent()
            try bytes[..<split].write(to: folder.appendingPathComponent("vocab.json"))
            try bytes[(split == bytes.endIndex ? split : split + 1)...].write(to: folder.appendingPathComponent("merges.txt"))
            try encodeSample(loadTokenizer(folder: folder))
        },
        Target(name: "hf-config", fileName: "config.json") { url in
            _ = try PretrainedFolder(url.deletingLastPathComponent()).config(BERTConfig.self)
        },
        Target(name: "checkpoint", fileName: "last.ckpt") { _ = try TrainingCheckpoint(contentsOf: $0) },
        // TFRecord framing (both CRCs, gzip), then the Examples as below.
        Target(name: "tfrecord", fileName: "train-00000-of-00001") { try parseTFRecords($0) },
        // One record's data, framed here: mutations that would break a CRC still reach
        // tf.train.Example's protobuf, a spec of every feature kind, and TensorFlow's
        // image-classification layout with its image decoded.
        Target(name: "tf-example", fileName: "train-00000-of-00001") { url in
            try Data(TFRecord.frame([UInt8](Data(contentsOf: url)))).write(to: url)
            try parseTFRecords(url)
        },
        // A run folder's model card and settings, read by ember eval/predict/serve before any model is built.
        Target(name: "run-model", fileName: "model.json") { url in
            let card = try ModelCard.read(from: url.deletingLastPathComponent())
            _ = try Preprocessing(card.input)
        },
        Target(name: "run-config", fileName: "config.json") { _ = try TrainConfig.read(from: $0) },
        // The ONNX importer's checks: protobuf, types, dims against data, external data
        // paths, names, cycles, operators and their opsets.
        Target(name: "onnx", fileName: "model.onnx") { _ = try ONNXModel(contentsOf: $0) },
    ]

    public static func target(named name: String) -> Target? { all.first { $0.name == name } }

    /// Runs `target` on `bytes` in a fresh directory of its own; thrown errors are answers.
    public static func run(_ target: Target, _ bytes: UnsafeRawBufferPointer) {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("ember-fuzz-\(getpid())-\(target.name)", isDirectory: true)
        try? FileManager.default.removeItem(at: folder)
        try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent(target.fileName)
        try! Data(bytes).write(to: file)
        _ = try? target.load(file)
    }

    private static func parseTFRecords(_ url: URL) throws {
        let spec: [String: FeatureSpec] = ["f": .variable(dtype: .float32), "i": .variable(dtype: .int32), "b": .bytes,
                                           "x": .fixed(shape: [2], dtype: .float64, defaultValue: [0, 1])]
        let records = try TFRecordDataset(files: [url], spec: spec)
        if records.count > 0 { _ = records[records.count - 1] }
        let images = try TFRecordImageClassification(files: [url])
        if images.count > 0 { _ = images[0] }
    }

    /// A loaded tokenizer must also encode: special tokens and vocabulary ids are used then.
    private static func encodeSample(_ tokenizer: any Tokenizer) {
        _ = tokenizer.encode("Hello, world! Ünïcödé 日本語 ids", addSpecialTokens: true)
    }
}
