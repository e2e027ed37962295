import Foundation

/// The settings of an `ember train` run. Saved as `config.json` in the output directory, so
/// that `--resume` continues with exactly the settings the run started with.
struct TrainConfig: Codable, Equatable {
    var model = "resnet8"
    var dataset = "shapes"
    var dataDir: String?
    var epochs = 8
    var batchSize = 64
    var optimizer = "adamw"
    var lr: Double?
    var schedule = "onecycle"
    var weightDecay: Double?
    var seed: UInt64 = 0
    var trainSize: Int?
    var valSize: Int?
    /// Text: a Hugging Face tokenizer folder (nil: UTF-8 bytes) and the most tokens per
    /// example (per window for a language model).
    var tokenizer: String?
    var maxLength: Int?

    var effectiveMaxLength: Int { maxLength ?? (ModelRegistry.languageModels.contains(model) ? 64 : 128) }
    var isLanguageModel: Bool { ModelRegistry.languageModels.contains(model) }

    /// The built-in dataset's sizes when none are given (file datasets default to all).
    var shapesTrainSize: Int { trainSize ?? 10_000 }
    var shapesValidationSize: Int { valSize ?? 2_000 }

    /// The learning rate when none is given: what works for each optimizer at batch size 64.
    var learningRate: Double { lr ?? (optimizer == "sgd" ? 0.05 : optimizer == "rmsprop" ? 1e-3 : 3e-3) }
    /// PyTorch's AdamW default, else a common value for convolutional networks.
    var effectiveWeightDecay: Double { weightDecay ?? (optimizer == "adamw" ? 0.01 : 5e-4) }

    static let optimizers = ["sgd", "adam", "adamw", "rmsprop"]
    static let schedules = ["none", "step", "cosine", "onecycle", "plateau"]
    static let imageDatasets = ["shapes", "mnist", "fashion-mnist", "cifar10"]
    static let textDatasets = ["reviews", "text", "corpus"]
    static let datasets = imageDatasets + ["csv"] + textDatasets
    /// Datasets generated in memory, which read no files.
    static let builtInDatasets = ["shapes", "reviews"]

    /// The dataset a model trains on when none is named.
    static func defaultDataset(for model: String) -> String {
        ModelRegistry.textModels.contains(model) || ModelRegistry.languageModels.contains(model) ? "reviews" : "shapes"
    }

    /// Checks the values a parser cannot (names, ranges), naming the option at fault.
    func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw CommandError(message) }
        }
        try require(ModelRegistry.names.contains(model),
                    "unknown model '\(model)' (available: \(ModelRegistry.names.joined(separator: ", ")))")
        try require(Self.datasets.contains(dataset), "unknown dataset '\(dataset)' (available: \(Self.datasets.joined(separator: ", ")))")
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
        try require((maxLength ?? 1) > 0, "--max-length must be positive")
        try require(Self.optimizers.contains(optimizer), "unknown optimizer '\(optimizer)' (available: \(Self.optimizers.joined(separator: ", ")))")
        try require(Self.schedules.contains(schedule), "unknown schedule '\(schedule)' (available: \(Self.schedules.joined(separator: ", ")))")
        try require(epochs > 0, "--epochs must be positive, got \(epochs)")
        try require(batchSize > 0, "--batch-size must be positive, got \(batchSize)")
        try require(learningRate > 0 && learningRate.isFinite, "--lr must be positive, got \(learningRate)")
        try require(effectiveWeightDecay >= 0, "--weight-decay must not be negative, got \(effectiveWeightDecay)")
        try require((trainSize ?? 1) > 0, "--train-size must be positive")
        try require((valSize ?? 1) > 0, "--val-size must be positive")
    }

    /// Key-value lines for the report.
    var summary: [(String, String)] {
        [("model", model), ("dataset", dataset + (dataDir.map { " (\($0))" } ?? "")), ("epochs", "\(epochs)"),
         ("batch size", "\(batchSize)"), ("optimizer", optimizer), ("learning rate", "\(learningRate)"),
         ("schedule", schedule), ("weight decay", "\(effectiveWeightDecay)"), ("seed", "\(seed)"),
         ("train size", dataset == "shapes" ? "\(shapesTrainSize)" : trainSize.map(String.init) ?? "all"),
         ("validation size", dataset == "shapes" ? "\(shapesValidationSize)" : valSize.map(String.init) ?? "all")]
            + (Self.textDatasets.contains(dataset) ? [("tokenizer", tokenizer ?? "UTF-8 bytes"), ("max length", "\(effectiveMaxLength)")] : [])
    }

    func write(to url: URL) throws {
        try writeJSON(self, to: url)
    }

    static func read(from url: URL) throws -> TrainConfig {
        guard let data = try? Data(contentsOf: url) else {
            throw CommandError("cannot resume: \(url.path) does not exist (was the run started with this --out?)")
        }
        do {
            return try JSONDecoder().decode(TrainConfig.self, from: data)
        } catch {
            throw CommandError("cannot resume: \(url.path) is not a valid run configuration")
        }
    }
}
