import Ember

/// A value accumulated over batches, for a training loop to report: a name for the logs,
/// the value so far, and a reset between epochs. Metrics read tensors under `noGrad` and
/// keep their state in Swift numbers, so they never build an autograd graph.
public protocol Metric: AnyObject {
    var name: String { get }
    /// The value over every update since the last reset; nan before the first.
    var result: Double { get }
    func reset()
}

/// A metric of a model's predictions against the targets, updated once per batch.
public protocol PredictionMetric: Metric {
    func update(predictions: Tensor, targets: Tensor)
}

/// A metric whose accumulated value can be saved and restored, so that a training checkpoint
/// taken in the middle of an epoch resumes the epoch's running values exactly.
public protocol ResumableMetric: Metric {
    /// The accumulators as numbers.
    var accumulators: [Double] { get }
    /// Puts back what `accumulators` returned; throws if they do not fit this metric.
    func restore(accumulators: [Double]) throws
}

/// Accumulators that do not fit the metric they are restored into.
public struct MetricStateError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Counts restored from doubles: whole and non-negative, or nil.
func wholeCounts(_ values: [Double], expected: Int) -> [Int]? {
    guard values.count == expected, values.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 0x1p53 }) else { return nil }
    return values.map { Int($0) }
}
