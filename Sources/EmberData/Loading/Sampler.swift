/// The dataset indices a loader visits in an epoch, and in which order (PyTorch's
/// `Sampler`): `DataLoader(sampler:)` batches them instead of its own order. A sampler
/// shards a dataset between processes (`DistributedSampler`) or weights its examples.
public protocol Sampler {
    /// The indices of `epoch` (from 0), in order; every call for one epoch gives the same.
    func indices(epoch: Int) -> [Int]
    /// How many indices each epoch has.
    var count: Int { get }
}
