import Ember

/// Counts of (true class, predicted class) pairs over every sample since the last reset:
/// `counts[t][p]` samples of class t were predicted as p (rows true, columns predicted, as
/// scikit-learn). Its `result` is the accuracy, the fraction on the diagonal.
public final class ConfusionMatrix: PredictionMetric, ResumableMetric {
    public let classes: Int
    public let name: String
    public private(set) var counts: [[Int]]

    public init(classes: Int, name: String = "confusion_matrix") {
        precondition(classes > 0, "ConfusionMatrix: classes must be positive, got \(classes)")
        self.classes = classes
        self.name = name
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }

    /// `predictions` are scores [N, C, d1, ...] (their argmax is the prediction) or predicted
    /// class indices shaped like the targets; `targets` are class indices [N, d1, ...] or
    /// class probabilities shaped like scores.
    public func update(predictions: Tensor, targets: Tensor) {
        let (predicted, actual) = noGrad { () -> ([Int64], [Int64]) in
            if predictions.dtype.isFloatingPoint {
                validate { () throws(ShapeError) in
                    try ClassTargets.checkIndicesOrProbabilities("ConfusionMatrix", scores: predictions, labels: targets,
                                                                 names: ("predictions", "targets"))
                }
                let (scores, labels) = ClassTargets.batched(predictions, targets)
                return (scores.argmax(axis: 1).scalars(as: Int64.self), ClassTargets.indices(labels).scalars(as: Int64.self))
            }
            validate { () throws(ShapeError) in try checkPredictedIndices(predictions, targets) }
            return (predictions.scalars(as: Int64.self), targets.scalars(as: Int64.self))
        }
        let valid = 0..<Int64(classes)
        for (t, p) in zip(actual, predicted) {
            precondition(valid.contains(t), "ConfusionMatrix: target class \(t) is out of range for \(classes) classes")
            precondition(valid.contains(p), "ConfusionMatrix: predicted class \(p) is out of range for \(classes) classes")
            counts[Int(t)][Int(p)] += 1
        }
    }

    /// Integer predictions must be class indices shaped like integer targets.
    func checkPredictedIndices(_ predictions: Tensor, _ targets: Tensor) throws(ShapeError) {
        for (name, t) in [("predictions", predictions), ("targets", targets)] where t.dtype != .int64 && t.dtype != .int32 {
            throw ShapeError("ConfusionMatrix", "\(name) must be int64 or int32 class indices (or predictions float scores), got \(t.dtype)")
        }
        if predictions.shape != targets.shape {
            throw ShapeError("ConfusionMatrix", "predicted class indices of shape \(predictions.shape) must have the targets' shape \(targets.shape)")
        }
    }

    /// The counts as an int64 tensor [classes, classes].
    public var matrix: Tensor {
        Tensor(counts.flatMap { $0.map { Int64($0) } }, shape: [classes, classes])
    }

    /// The counts row by row.
    public var accumulators: [Double] { counts.joined().map(Double.init) }

    public func restore(accumulators: [Double]) throws {
        guard let values = wholeCounts(accumulators, expected: classes * classes) else {
            throw MetricStateError("\(name): expected \(classes * classes) counts, got \(accumulators.count) values")
        }
        counts = (0..<classes).map { Array(values[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    public var result: Double {
        let total = counts.joined().reduce(0, +)
        return Double((0..<classes).reduce(0) { $0 + counts[$1][$1] }) / Double(total)
    }

    /// Per class, the fraction of the samples predicted as it that truly are: nan for a
    /// class never predicted.
    public var precision: [Double] {
        (0..<classes).map { c in Double(counts[c][c]) / Double((0..<classes).reduce(0) { $0 + counts[$1][c] }) }
    }

    /// Per class, the fraction of its samples predicted as it: nan for a class never seen.
    public var recall: [Double] {
        (0..<classes).map { c in Double(counts[c][c]) / Double(counts[c].reduce(0, +)) }
    }

    public func reset() {
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }
}
