/// The dataset indices a loader visits in an epoch, and in which order (PyTorch's
/// `Sampler`): `DataLoader(sampler:)` batches them instead of its own order. A sampler
/// shards a dataset between processes (`DistributedSampler`) or weights its examples.
public protocol Sampler {
    /// The indices of `epoch` (from 0), in order; every call for one epoch gives the same.
    func indices(epoch: Int) -> [Int]
    /// How many indices each epoch has.
    var count: Int { get }
}

/// Batches whose examples a sampler can choose (a `DataLoader` of batches), for code that
/// holds the loader as a `BatchProvider`: data-parallel training sets each rank's share.
public protocol SampledBatchProvider: BatchProvider, AnyObject {
    /// The number of examples the sampler's indices refer to.
    var datasetCount: Int { get }
    var sampler: (any Sampler)? { get set }
}
