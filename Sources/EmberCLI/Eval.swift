import ArgumentParser
import Ember
import EmberRuns
import EmberNN
import EmberTrain
import Foundation

/// `ember eval`: a trained model's loss and accuracy on its validation data (or other data
/// of the same kind), overall and per class.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint of an ember train run on a dataset.",
        discussion: """
        RUN is a run directory (its checkpoints/best.ckpt, else last.ckpt) or a checkpoint file \
        in one. Without --dataset and --data-dir the run's own validation data is used.
        """)

    @Argument(help: ArgumentHelp("A run directory written by ember train, or a checkpoint file in its checkpoints/.", valueName: "run"))
    var runPath: String
    @Option(help: "Dataset: \(TrainConfig.datasets.joined(separator: ", ")). [default: the run's]") var dataset: String?
    @Option(help: "The dataset's files (as for ember train). [default: the run's]") var dataDir: String?
    @Option(parsing: .unconditional, help: "Evaluate at most this many examples. [default: the run's validation size]") var valSize: Int?
    @Option(parsing: .unconditional, help: "Examples per batch. [default: the run's]") var batchSize: Int?
    @Flag(help: "Also print the confusion matrix (rows: true class, columns: predicted).") var confusion = false
    @Flag(help: "Print one JSON object instead of tables.") var json = false

    func run() throws {
        if let valSize, valSize <= 0 { throw CommandError("--val-size must be positive, got \(valSize)") }
        if let batchSize, batchSize <= 0 { throw CommandError("--batch-size must be positive, got \(batchSize)") }
        let saved = try SavedRun(path: runPath)
        var config = saved.config
        if let dataset { config.dataset = dataset } else if let dataDir { config.dataset = try TrainingData.detectFormat(at: dataDir) }
        if dataset != nil || dataDir != nil { config.dataDir = dataDir }
        if let valSize { config.valSize = valSize }
        if let batchSize { config.batchSize = batchSize }
        try config.validate()
        let data = try TrainingData.load(config, workers: 2)
        guard data.input == saved.card.input || data.input.shape == saved.card.input.shape else {
            throw CommandError("the model takes examples of shape \(saved.card.input.shape), the dataset's have \(data.input.shape)")
        }
        guard data.classNames.count == saved.card.classNames.count else {
            throw CommandError("the model has \(saved.card.classNames.count) classes, the dataset \(data.classNames.count)")
        }
        if let problem = ModelRegistry.memoryProblem(saved.card.model, input: data.input, classes: saved.card.outputs, examples: config.batchSize) {
            throw CommandError("--batch-size \(config.batchSize) is too large for model '\(saved.card.model)': \(problem)")
        }
        if config.isLanguageModel {
            let task = TrainingRun.task(languageModel: true)
            let results = EmberTrain.evaluate(saved.model, data.validation, loss: { task.loss($0, $1) }, metrics: task.metrics)
            let (loss, accuracy) = (results["loss"] ?? .nan, results["accuracy"] ?? .nan)
            if json {
                print(String(format: "{\"accuracy\":%.6f,\"loss\":%.6f,\"perplexity\":%.4f}", accuracy, loss, exp(loss)))
            } else {
                print("Evaluated \(saved.card.model) (\(saved.checkpoint.path)) on \(data.description)")
                print(String(format: "loss %.4f (perplexity %.2f), next-token accuracy %.2f%%", loss, exp(loss), accuracy * 100))
            }
            return
        }

        let classes = saved.card.classNames
        let matrix = ConfusionMatrix(classes: classes.count)
        var metrics: [any PredictionMetric] = [Accuracy(), matrix]
        if classes.count > 5 { metrics.append(TopKAccuracy(k: 5)) }
        let results = EmberTrain.evaluate(saved.model, data.validation, loss: { crossEntropy(logits: $0, labels: $1) }, metrics: metrics)
        let report = EvalReport(results: results, classNames: classes, counts: matrix.counts)
        if json {
            print(try report.json())
        } else {
            print("Evaluated \(saved.card.model) (\(saved.checkpoint.path)) on \(data.description)")
            print(report.text(confusion: confusion))
        }
    }
}

/// The figures `ember eval` prints.
struct EvalReport {
    let results: [String: Double]
    let classNames: [String]
    /// counts[true class][predicted class].
    let counts: [[Int]]

    var examples: Int { counts.joined().reduce(0, +) }

    func classAccuracy(_ c: Int) -> Double? {
        let total = counts[c].reduce(0, +)
        return total == 0 ? nil : Double(counts[c][c]) / Double(total)
    }

    func text(confusion: Bool) -> String {
        var lines = [String(format: "%d examples: loss %.4f, accuracy %.2f%%", examples, results["loss"] ?? .nan,
                            (results["accuracy"] ?? .nan) * 100)]
        if let top5 = results["top_5_accuracy"] { lines[0] += String(format: ", top-5 accuracy %.2f%%", top5 * 100) }
        let width = max(classNames.map(\.count).max() ?? 0, 5)
        lines.append("")
        lines.append("class".padding(toLength: width, withPad: " ", startingAt: 0) + "  examples  accuracy")
        for (c, name) in classNames.enumerated() {
            let accuracy = classAccuracy(c).map { String(format: "%7.2f%%", $0 * 100) } ?? "       -"
            lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0)
                         + String(format: "  %8d  ", counts[c].reduce(0, +)) + accuracy)
        }
        if confusion {
            lines.append("")
            lines.append("confusion matrix (rows: true class, columns: predicted, in class order)")
            let cell = max(String(counts.joined().max() ?? 0).count, 3)
            for (c, row) in counts.enumerated() {
                lines.append(classNames[c].padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                             + row.map { String(repeating: " ", count: cell - String($0).count) + String($0) }.joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        struct ClassFigures: Encodable {
            let examples: Int
            let accuracy: Double?
        }
        struct Output: Encodable {
            let examples: Int
            let loss: Double
            let accuracy: Double
            let top5_accuracy: Double?
            let classes: [String: ClassFigures]
            let class_names: [String]
            let confusion_matrix: [[Int]]
        }
        let classes = Dictionary(uniqueKeysWithValues: classNames.enumerated().map {
            ($1, ClassFigures(examples: counts[$0].reduce(0, +), accuracy: classAccuracy($0)))
        })
        let output = Output(examples: examples, loss: results["loss"] ?? .nan, accuracy: results["accuracy"] ?? .nan,
                            top5_accuracy: results["top_5_accuracy"], classes: classes, class_names: classNames,
                            confusion_matrix: counts)
        return try jsonText(output)
    }
}
