import Ember
import EmberNN

/// A language model's logits [batch, length, vocabulary] flattened to one prediction per
/// position, [batch x length, vocabulary], to meet the next-token targets [batch x length]
/// that `TextBatches.nextToken` makes.
private func flattened(_ logits: Tensor) -> Tensor {
    logits.reshaped(to: [-1, logits.shape.last!])
}

/// Cross-entropy of every position's prediction of the next token.
struct NextTokenLoss: Loss {
    func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        crossEntropy(logits: flattened(predictions), labels: targets)
    }
}

/// The fraction of positions whose most likely next token is the right one; named
/// "accuracy" so that it fills the same columns as a classifier's.
final class NextTokenAccuracy: PredictionMetric, ResumableMetric {
    private let accuracy = Accuracy()
    var name: String { accuracy.name }
    var result: Double { accuracy.result }
    func reset() { accuracy.reset() }
    func update(predictions: Tensor, targets: Tensor) { accuracy.update(predictions: flattened(predictions), targets: targets) }
    var accumulators: [Double] { accuracy.accumulators }
    func restore(accumulators: [Double]) throws { try accuracy.restore(accumulators: accumulators) }
}
