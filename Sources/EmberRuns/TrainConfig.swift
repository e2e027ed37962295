import Ember
import EmberIO
import Foundation

/// The settings of an `ember train` run. Saved as `config.json` in the output directory, so
/// that `--resume` continues with exactly the settings the run started with.
public struct TrainConfig: Codable, Equatable {
    public var model = "resnet8"
    public var dataset = "shapes"
    public var dataDir: String?
    public var epochs = 8
    public var batchSize = 64
    public var optimizer = "adamw"
    public var lr: Double?
    public var schedule = "onecycle"
    public var weightDecay: Double?
    public var seed: UInt64 = 0
    public var trainSize: Int?
    public var valSize: Int?
    /// Text: a Hugging Face tokenizer folder (nil: UTF-8 bytes) and the most tokens per
    /// example (per window for a language model).
    public var tokenizer: String?
    public var maxLength: Int?
    /// Image folders: the side images are resized to (nil: the model's usual size).
    public var imageSize: Int?
    /// fp32, bf16 or fp16 (`Precision`); nil (runs saved before it existed): fp32.
    public var precision: String?

    public init() {}

    public var effectiveMaxLength: Int { maxLength ?? (ModelRegistry.languageModels.contains(model) ? 64 : 128) }
    public var isLanguageModel: Bool { ModelRegistry.languageModels.contains(model) }
    /// The precision the run trains in (checked by `validate`).
    public var effectivePrecision: Precision { precision.flatMap(Precision.init(rawValue:)) ?? .fp32 }

    /// The side of the square an image folder's images are resized to: the model's usual
    /// input (224 for the ImageNet ResNets, 28 for LeNet-5 and the dense models, else 32).
    public var effectiveImageSize: Int {
        if let imageSize { return imageSize }
        if case .image(_, let height, _, _, _) = ModelRegistry.defaultInput(model) { return height }
        return 32
    }

    /// The built-in dataset's sizes when none are given (file datasets default to all).
    public var shapesTrainSize: Int { trainSize ?? 10_000 }
    public var shapesValidationSize: Int { valSize ?? 2_000 }

    /// The learning rate when none is given: what works for each optimizer at batch size 64.
    public var learningRate: Double { lr ?? (optimizer == "sgd" ? 0.05 : optimizer == "rmsprop" ? 1e-3 : 3e-3) }
    /// PyTorch's AdamW default, else a common value for convolutional networks.
    public var effectiveWeightDecay: Double { weightDecay ?? (optimizer == "adamw" ? 0.01 : 5e-4) }

    public static let optimizers = ["sgd", "adam", "adamw", "rmsprop"]
    public static let schedules = ["none", "step", "cosine", "onecycle", "plateau"]
    public static let imageDatasets = ["shapes", "mnist", "fashion-mnist", "cifar10", "tfrecord", "folder"]
    public static let textDatasets = ["reviews", "text", "corpus"]
    public static let datasets = imageDatasets + ["csv"] + textDatasets
    /// Datasets generated in memory, which read no files.
    public static let builtInDatasets = ["shapes", "reviews"]

    /// The dataset a model trains on when none is named.
    public static func defaultDataset(for model: String) -> String {
        ModelRegistry.textModels.contains(model) || ModelRegistry.languageModels.contains(model) ? "reviews" : "shapes"
    }

    /// Checks the values a parser cannot (names, ranges, sizes against memory), naming the
    /// option at fault; for a configuration read from `file`, the file and its field.
    public func validate(file: URL? = nil) throws {
        // A setting of one field: the error names the option, or the file's field.
        func require(_ condition: Bool, _ field: String, _ value: Any, _ allowed: String) throws {
            guard !condition else { return }
            guard let file else { throw RunError("--\(Self.option(field)) \(allowed), got \(value)") }
            throw FileError(.runConfig, path: file.path, member: field, problem: "is \(value); it \(allowed)")
        }
        // A rule between settings, said in terms of options.
        func require(_ condition: Bool, _ message: String) throws {
            guard !condition else { return }
            guard let file else { throw RunError(message) }
            throw FileError(.runConfig, path: file.path, problem: message)
        }
        try require(ModelRegistry.names.contains(model), "model", "'\(model)'", "must be one of \(ModelRegistry.names.joined(separator: ", "))")
        try require(Self.datasets.contains(dataset), "dataset", "'\(dataset)'", "must be one of \(Self.datasets.joined(separator: ", "))")
        try require(Self.builtInDatasets.contains(dataset) || dataDir != nil, "--dataset \(dataset) reads files: give --data-dir DIR")
        try require(!Self.builtInDatasets.contains(dataset) || dataDir == nil,
                    "the built-in \(dataset) dataset reads no files: drop --data-dir or name its format with --dataset")
        let readsText = ModelRegistry.textModels.contains(model) || isLanguageModel
        try require(readsText == Self.textDatasets.contains(dataset),
                    readsText ? "model '\(model)' reads text: use --dataset \(isLanguageModel ? "reviews or corpus" : "reviews or text")"
                              : "--dataset \(dataset) is text: use --model \(ModelRegistry.textModels.joined(separator: ", ")) or gpt")
        try require(!isLanguageModel || dataset != "text", "model '\(model)' is a language model: train it on --dataset reviews or corpus (a text file)")
        try require(isLanguageModel || dataset != "corpus", "--dataset corpus is for language models: use --model gpt")
        try require(tokenizer == nil || readsText, "--tokenizer is for text models")
        try require(imageSize == nil || dataset == "folder", "--image-size is for --dataset folder (the other datasets' images have their own size)")
        if let imageSize { try require((8...1024).contains(imageSize), "imageSize", imageSize, "must be 8 to 1024 (pixels per side)") }
        try require(Self.optimizers.contains(optimizer), "optimizer", "'\(optimizer)'", "must be one of \(Self.optimizers.joined(separator: ", "))")
        try require(Self.schedules.contains(schedule), "schedule", "'\(schedule)'", "must be one of \(Self.schedules.joined(separator: ", "))")
        if let precision {
            try require(Precision(rawValue: precision) != nil, "precision", "'\(precision)'",
                        "must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try require(epochs > 0, "epochs", epochs, "must be positive")
        try require(batchSize > 0, "batchSize", batchSize, "must be positive")
        try require(learningRate > 0 && learningRate.isFinite, "lr", learningRate, "must be a positive number")
        try require(effectiveWeightDecay >= 0 && effectiveWeightDecay.isFinite, "weightDecay", effectiveWeightDecay, "must be a number, 0 or more")
        for (field, size) in [("maxLength", maxLength), ("trainSize", trainSize), ("valSize", valSize)] {
            if let size { try require(size > 0, field, size, "must be positive") }
        }
        // The built-in datasets are as large as asked; their examples (generated, or a text's
        // token ids) and the loader's order take at least this much.
        if Self.builtInDatasets.contains(dataset) {
            let bytesPerExample = dataset == "shapes" ? 16 : 8 * (effectiveMaxLength + 2)
            for (field, size) in [("trainSize", trainSize), ("valSize", valSize)] {
                guard let size, let problem = MemoryLimit.problem(bytes: MemoryLimit.bytes([size, bytesPerExample])) else { continue }
                try require(false, "--\(Self.option(field)) \(size) is too large: the examples of the built-in \(dataset) dataset would need \(problem)")
            }
        }
    }

    /// The option that sets a field: `trainSize` → `train-size`.
    public static func option(_ field: String) -> String {
        field.reduce(into: "") { name, character in name += character.isUppercase ? "-" + character.lowercased() : String(character) }
    }

    /// Key-value lines for the report.
    public var summary: [(String, String)] {
        [("model", model), ("dataset", dataset + (dataDir.map { " (\($0))" } ?? "")), ("epochs", "\(epochs)"),
         ("batch size", "\(batchSize)"), ("optimizer", optimizer), ("learning rate", "\(learningRate)"),
         ("schedule", schedule), ("weight decay", "\(effectiveWeightDecay)"), ("precision", effectivePrecision.rawValue), ("seed", "\(seed)"),
         ("train size", dataset == "shapes" ? "\(shapesTrainSize)" : trainSize.map(String.init) ?? "all"),
         ("validation size", dataset == "shapes" ? "\(shapesValidationSize)" : valSize.map(String.init) ?? "all")]
            + (dataset == "folder" ? [("image size", "\(effectiveImageSize)x\(effectiveImageSize)")] : [])
            + (Self.textDatasets.contains(dataset) ? [("tokenizer", tokenizer ?? "UTF-8 bytes"), ("max length", "\(effectiveMaxLength)")] : [])
    }

    public func write(to url: URL) throws {
        try JSONFile.write(self, to: url, format: .runConfig)
    }

    /// A run's `config.json`, checked as `validate` checks options.
    public static func read(from url: URL) throws -> TrainConfig {
        let config = try JSONFile.decode(TrainConfig.self, from: url, format: .runConfig)
        try config.validate(file: url)
        return config
    }
}
