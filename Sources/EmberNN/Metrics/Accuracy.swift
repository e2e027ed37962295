import Ember

/// The fraction of samples whose highest score is at the label's class (the first maximum
/// on ties, as `argmax`), as a float32 scalar. `logits` are scores [N, C, d1, ...] or [C];
/// `labels` are class indices [N, d1, ...] or class probabilities shaped like the scores,
/// whose most likely class counts. Empty batches give nan.
public func accuracy(logits: Tensor, labels: Tensor) -> Tensor {
    noGrad { correctPredictions("accuracy", logits: logits, labels: labels, k: 1).cast(to: .float32).mean() }
}

/// The fraction of samples whose label's class is among the `k` highest scores, as Keras'
/// `in_top_k`: fewer than `k` classes score strictly higher, so classes tied at the k-th
/// place all count as in the top k (k = 1 is `accuracy`, whose argmax breaks ties).
/// Shapes as `accuracy`.
public func topKAccuracy(logits: Tensor, labels: Tensor, k: Int) -> Tensor {
    noGrad { correctPredictions("topKAccuracy", logits: logits, labels: labels, k: k).cast(to: .float32).mean() }
}

/// Whether each sample is predicted right (bool, the labels' shape as class indices).
/// k = 1 is the argmax; larger k counts the classes scoring above the label's.
private func correctPredictions(_ function: String, logits: Tensor, labels: Tensor, k: Int) -> Tensor {
    validate { () throws(ShapeError) in
        try ClassTargets.checkIndicesOrProbabilities(function, scores: logits, labels: labels, names: ("logits", "labels"))
        let classes = ClassTargets.classCount(logits.shape)
        if k < 1 || k > classes { throw ShapeError(function, "k must lie in 1...\(classes) for \(classes) classes, got \(k)") }
    }
    let (scores, targets) = ClassTargets.batched(logits, labels)
    let indices = ClassTargets.indices(targets)
    if k == 1 { return scores.argmax(axis: 1) .== indices }
    let chosen = scores.gather(axis: 1, index: indices.unsqueezed(axis: 1))
    let higher = (scores .> chosen).sum(axis: 1)
    return higher .< Double(k)
}

/// Streaming `accuracy`: the fraction right over every sample since the last reset.
public class Accuracy: PredictionMetric, ResumableMetric {
    public let name: String
    /// 1, or the k of `TopKAccuracy`.
    public let k: Int
    private var correct = 0
    private var total = 0

    public convenience init(name: String = "accuracy") { self.init(k: 1, named: name) }

    fileprivate init(k: Int, named name: String) {
        self.k = k
        self.name = name
    }

    public func update(predictions: Tensor, targets: Tensor) {
        noGrad {
            let right = correctPredictions("\(Self.self)", logits: predictions, labels: targets, k: k)
            correct += Int(right.sum().item())
            total += right.count
        }
    }

    public var result: Double { Double(correct) / Double(total) }

    public func reset() {
        correct = 0
        total = 0
    }

    public var accumulators: [Double] { [Double(correct), Double(total)] }

    public func restore(accumulators: [Double]) throws {
        guard let values = wholeCounts(accumulators, expected: 2), values[0] <= values[1] else {
            throw MetricStateError("\(name): expected [correct, total] counts, got \(accumulators)")
        }
        (correct, total) = (values[0], values[1])
    }
}

/// Streaming `topKAccuracy`.
public final class TopKAccuracy: Accuracy {
    public init(k: Int, name: String? = nil) { super.init(k: k, named: name ?? "top_\(k)_accuracy") }
}
