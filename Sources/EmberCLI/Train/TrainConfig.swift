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

    /// The built-in dataset's sizes when none are given (file datasets default to all).
    var shapesTrainSize: Int { trainSize ?? 10_000 }
    var shapesValidationSize: Int { valSize ?? 2_000 }

    /// The learning rate when none is given: what works for each optimizer at batch size 64.
    var learningRate: Double { lr ?? (optimizer == "sgd" ? 0.05 : optimizer == "rmsprop" ? 1e-3 : 3e-3) }
    /// PyTorch's AdamW default, else a common value for convolutional networks.
    var effectiveWeightDecay: Double { weightDecay ?? (optimizer == "adamw" ? 0.01 : 5e-4) }

    static let optimizers = ["sgd", "adam", "adamw", "rmsprop"]
    static let schedules = ["none", "step", "cosine", "onecycle", "plateau"]
    static let datasets = ["shapes", "mnist", "fashion-mnist", "cifar10", "csv"]

    /// Checks the values a parser cannot (names, ranges), naming the option at fault.
    func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw CommandError(message) }
        }
        try require(ModelRegistry.names.contains(model),
                    "unknown model '\(model)' (available: \(ModelRegistry.names.joined(separator: ", ")))")
        try require(Self.datasets.contains(dataset), "unknown dataset '\(dataset)' (available: \(Self.datasets.joined(separator: ", ")))")
        try require(dataset == "shapes" || dataDir != nil, "--dataset \(dataset) reads files: give --data-dir DIR")
        try require(dataset != "shapes" || dataDir == nil, "the built-in shapes dataset reads no files: drop --data-dir or name its format with --dataset")
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
    }

    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Data(encoder.encode(self)).write(to: url, options: .atomic)
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
