import Ember

/// The loss operators of training graphs: NegativeLogLikelihoodLoss and
/// SoftmaxCrossEntropyLoss (class weights, ignore_index, none/sum/mean reductions).
enum ONNXLossOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("NegativeLogLikelihoodLoss", since: 12) { context in
            [try negativeLogLikelihood(context.input(0), context)]
        },
        ONNXOperator("SoftmaxCrossEntropyLoss", since: 12) { context in
            let scores = try context.input(0)
            guard scores.rank >= 2 else { throw context.fail("scores must be [N, C, ...], got \(scores.shape)") }
            let logProbabilities = scores.logSoftmax(axis: 1)
            return [try negativeLogLikelihood(logProbabilities, context), logProbabilities]
        },
    ]

    /// -input[n, target[n, ...], ...] weighted by class, with ignore_index entries left out.
    static func negativeLogLikelihood(_ input: Tensor, _ context: ONNXNodeContext) throws -> Tensor {
        let target = try context.input(1)
        guard input.rank >= 2, target.shape == [input.shape[0]] + Array(input.shape.dropFirst(2)), !target.dtype.isFloatingPoint else {
            throw context.fail("expects input [N, C, ...] and integer targets [N, ...], got \(input.shape) and \(target.shape) \(target.dtype)")
        }
        let classes = input.shape[1]
        var labels = target.cast(to: .int64)
        var kept: Tensor?
        if context.has("ignore_index") {
            let keep = labels .!= Double(context.int("ignore_index", 0))
            labels = Tensor.where(keep, labels, Tensor.zeros(like: labels))
            kept = keep
        }
        if !labels.isAbstract, let bad = labels.scalars(as: Int64.self).first(where: { $0 < 0 || $0 >= Int64(classes) }) {
            throw context.fail("target \(bad) is out of range for \(classes) classes")
        }
        let picked = input.gather(axis: 1, index: labels.unsqueezed(axis: 1)).squeezed(axis: 1)
        var weights = context.optionalInput(2).map { $0.indexSelect(axis: 0, index: labels.reshaped(to: [-1])).reshaped(to: labels.shape) }
        if let kept {
            let mask = kept.cast(to: input.dtype)
            weights = weights.map { $0 * mask } ?? mask
        }
        let losses = weights.map { -picked * $0 } ?? -picked
        switch context.string("reduction", "mean") {
        case "none": return losses
        case "sum": return losses.sum()
        case "mean": return weights.map { losses.sum() / $0.sum() } ?? losses.mean()
        case let reduction: throw context.fail("reduction '\(reduction)' is not none, sum or mean")
        }
    }
}
