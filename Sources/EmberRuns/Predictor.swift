import Ember
import EmberData
import EmberNN
import Foundation

/// A classifier trained by `ember train`, ready to answer: `try Predictor(run: url)`, then
/// `classify(images:)`, `classify(texts:)` or `classify(rows:)`. Inputs are prepared as the
/// run's validation data was (see `Preprocessing`). Not safe to call from several threads
/// at once: the model is one module.
public final class Predictor {
    public let run: SavedRun
    public let preprocessing: Preprocessing

    public var card: ModelCard { run.card }
    public var classNames: [String] { run.card.classNames }

    /// `url` is a run folder (its best checkpoint, else its last) or a checkpoint file in
    /// one. A language model is refused: it continues text (`ember generate`), it does not
    /// classify.
    public init(run url: URL) throws {
        run = try SavedRun(path: url.path)
        guard !run.card.classNames.isEmpty else {
            throw RunError("\(url.path) holds a language model ('\(run.card.model)'): continue a prompt with ember generate")
        }
        preprocessing = try Preprocessing(run.card.input)
    }

    /// One example's class probabilities, and the most likely classes.
    public struct Classification: Equatable, Sendable {
        public let probabilities: [Float]
        public let classNames: [String]

        /// The index of the most likely class.
        public var index: Int { probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0 }
        public var label: String { classNames[index] }

        /// The `k` most likely classes with their probabilities, most likely first.
        public func top(_ k: Int) -> [(label: String, probability: Float)] {
            probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(k).map { (classNames[$0], probabilities[$0]) }
        }
    }

    public func classify(images: [Image]) throws -> [Classification] {
        try classify(images.map { try preprocessing.tensor(image: $0) })
    }

    public func classify(texts: [String]) throws -> [Classification] {
        try classify(texts.map { try preprocessing.tensor(text: $0) })
    }

    /// Rows of raw feature values, in the order of the card's feature names.
    public func classify(rows: [[Float]]) throws -> [Classification] {
        try classify(rows.map { try preprocessing.tensor(features: $0) })
    }

    /// Prepared examples (from `preprocessing`), classified as one batch.
    public func classify(_ examples: [Tensor]) -> [Classification] {
        guard !examples.isEmpty else { return [] }
        let probabilities = self.probabilities(examples)
        return (0..<examples.count).map { Classification(probabilities: probabilities[$0].floats, classNames: classNames) }
    }

    /// The softmax of the model's outputs for prepared examples, batch x classes: one forward.
    public func probabilities(_ examples: [Tensor]) -> Tensor {
        noGrad { run.model(preprocessing.batch(examples)).softmax(axis: -1) }
    }
}
