import ArgumentParser
import Ember
import EmberData
import EmberNN
import EmberRuns
import Foundation

/// `ember predict`: a trained model's most likely classes for images, CSV rows or texts.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify files with a checkpoint of an ember train run.",
        discussion: """
        RUN is a run directory (its checkpoints/best.ckpt, else last.ckpt) or a checkpoint file \
        in one. INPUT depends on what the model was trained on: image files (PNG, JPEG, PPM, PGM) or \
        directories of them for image models, converted to the model's channels and resized \
        to its size; CSV files for feature models (every row is one example; the columns are \
        found by the training file's names); texts for text models (or --file, one per line).
        """)

    @Argument(help: ArgumentHelp("A run directory written by ember train, or a checkpoint file in its checkpoints/.", valueName: "run"))
    var runPath: String
    @Argument(help: ArgumentHelp("Image files or directories, CSV files, or texts.", valueName: "input")) var inputs: [String] = []
    @Option(help: "Text models: a file of texts to classify, one per line.") var file: String?
    @Option(parsing: .unconditional, help: "Classes shown per input, most likely first.") var topK = 3
    @Option(parsing: .unconditional, help: "Examples per batch.") var batchSize = 64
    @Option(help: ArgumentHelp(inferencePrecisionHelp)) var precision = "fp32"
    @Flag(help: "Print one JSON object: {\"predictions\": [{\"input\", \"label\", \"top\": [{\"label\", \"probability\"}]}]}.") var json = false

    func run() throws {
        print(try output())
    }

    /// What the command prints.
    func output() throws -> String {
        guard topK > 0 else { throw CommandError("--top-k must be positive, got \(topK)") }
        guard batchSize > 0 else { throw CommandError("--batch-size must be positive, got \(batchSize)") }
        let mode = try inferencePrecision(precision)
        let inputs = try inputs + linesOf(file)
        guard !inputs.isEmpty else { throw CommandError("give at least one input to classify") }
        let predictor = try Predictor(run: URL(fileURLWithPath: runPath))
        if file != nil {
            guard case .tokens = predictor.card.input else { throw CommandError("--file is for text models; give image or CSV files as arguments") }
        }
        let examples = try PredictionInputs.examples(predictor.preprocessing, from: inputs)
        var predictions: [Prediction] = []
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let batch = examples[start..<min(start + batchSize, examples.count)]
            for (example, result) in zip(batch, mode.run { predictor.classify(batch.map(\.tensor)) }) {
                predictions.append(Prediction(input: example.name, top: result.top(topK).map {
                    Prediction.Score(label: $0.label, probability: Double($0.probability))
                }))
            }
        }
        if json {
            return try jsonText(["predictions": predictions])
        }
        return predictions.map { prediction in
            "\(prediction.input): " + prediction.top.map { $0.label + String(format: " %.1f%%", $0.probability * 100) }.joined(separator: ", ")
        }.joined(separator: "\n")
    }
}

/// One input's most likely classes.
struct Prediction: Encodable {
    struct Score: Encodable {
        let label: String
        let probability: Double
    }

    let input: String
    let top: [Score]

    var label: String { top[0].label }

    enum CodingKeys: String, CodingKey { case input, label, top }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(input, forKey: .input)
        try container.encode(label, forKey: .label)
        try container.encode(top, forKey: .top)
    }
}
