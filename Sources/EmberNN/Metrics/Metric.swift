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
