import Ember

/// A finite collection of examples read by index (PyTorch's map-style dataset).
/// Loaders read from several worker threads at once, so `subscript` must be safe to call
/// concurrently and must not draw from the global random generator.
public protocol Dataset {
    associatedtype Element
    var count: Int { get }
    subscript(index: Int) -> Element { get }
}

/// A batch as training consumes it: inputs and targets stacked along a leading batch axis.
public struct Batch {
    public var inputs: Tensor
    public var targets: Tensor

    public init(inputs: Tensor, targets: Tensor) {
        self.inputs = inputs
        self.targets = targets
    }

    /// The number of examples.
    public var count: Int { inputs.shape[0] }
}

/// Anything `fit` draws batches from, epoch after epoch: a `DataLoader` or a pipeline of
/// batches. The batches of an epoch are a function of the epoch number alone (seeded), so
/// training resumed in the middle of an epoch sees exactly the batches an uninterrupted
/// run would have seen.
public protocol BatchProvider {
    /// Batches per epoch, when known.
    var batchesPerEpoch: Int? { get }
    /// The batches of `epoch` (counted from 0) in order, after skipping the first `skip`.
    /// Dropping the iterator early stops any background work it started.
    func batches(epoch: Int, skipping skip: Int) -> AnyIterator<Batch>
}
