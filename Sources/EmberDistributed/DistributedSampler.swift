import Ember
import EmberData

/// Each rank's share of a dataset, PyTorch's `DistributedSampler`: the dataset's indices
/// (shuffled by a permutation seeded with `seed + epoch`, the same on every rank) are made
/// a multiple of the world size, by repeating indices from the start or, with `dropLast`,
/// by dropping the tail, and rank r takes `indices[r::worldSize]`. Every rank thus gets
/// `count` indices and the ranks together visit each example once per epoch (some twice,
/// when padded). Set it as a `DataLoader`'s `sampler`.
///
/// `exact` is for evaluation: no padding and no dropping, so rank r takes
/// `indices[r::worldSize]` of the unpadded indices and ranks may differ by one example.
/// Metrics summed across ranks then equal the single-process figures, where PyTorch's
/// padding counts some validation examples twice.
public struct DistributedSampler: Sampler {
    public enum Mode: Sendable {
        /// Pad by repetition to a multiple of the world size (PyTorch's default).
        case pad
        /// Drop the tail that does not fill a round of the world size (PyTorch's drop_last).
        case dropLast
        /// Neither: the ranks' shares differ by at most one example.
        case exact
    }

    public let datasetCount: Int
    public let rank: Int
    public let worldSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let mode: Mode
    /// The epoch `indices()` uses; set it before each epoch (PyTorch's `set_epoch`), or the
    /// order repeats. `DataLoader` passes its own epoch to `indices(epoch:)` instead.
    public var epoch = 0

    public init(datasetCount: Int, rank: Int, worldSize: Int, shuffle: Bool = true, seed: UInt64 = 0, mode: Mode = .pad) {
        precondition(datasetCount >= 0, "DistributedSampler: the dataset size cannot be negative, got \(datasetCount)")
        precondition(worldSize > 0 && (0..<worldSize).contains(rank),
                     "DistributedSampler: rank \(rank) is not in a world of \(worldSize) ranks")
        self.datasetCount = datasetCount
        self.rank = rank
        self.worldSize = worldSize
        self.shuffle = shuffle
        self.seed = seed
        self.mode = mode
    }

    /// The sampler of this process's rank in `group`.
    public init(datasetCount: Int, group: any ProcessGroup, shuffle: Bool = true, seed: UInt64 = 0, mode: Mode = .pad) {
        self.init(datasetCount: datasetCount, rank: group.rank, worldSize: group.worldSize, shuffle: shuffle, seed: seed, mode: mode)
    }

    public mutating func setEpoch(_ epoch: Int) { self.epoch = epoch }

    /// Indices per rank: ceil(n / w) when padding, floor(n / w) when dropping, and this
    /// rank's own share when exact.
    public var count: Int {
        switch mode {
        case .pad: return (datasetCount + worldSize - 1) / worldSize
        case .dropLast: return datasetCount / worldSize
        case .exact: return datasetCount / worldSize + (rank < datasetCount % worldSize ? 1 : 0)
        }
    }

    /// The indices of all ranks together, before they are dealt out.
    public func globalIndices(epoch: Int) -> [Int] {
        var indices: [Int]
        if shuffle {
            var random = SeededRandom(seed: seed &+ UInt64(epoch))
            indices = random.permutation(datasetCount)
        } else {
            indices = Array(0..<datasetCount)
        }
        switch mode {
        case .pad:
            let total = count * worldSize
            // Repeat from the start, as often as needed (a dataset smaller than the world).
            var i = 0
            while indices.count < total && datasetCount > 0 {
                indices.append(indices[i])
                i += 1
            }
        case .dropLast:
            indices.removeLast(indices.count - count * worldSize)
        case .exact:
            break
        }
        return indices
    }

    public func indices(epoch: Int) -> [Int] {
        let all = globalIndices(epoch: epoch)
        return Array(stride(from: rank, to: all.count, by: worldSize).map { all[$0] })
    }

    /// This rank's indices for the epoch set with `setEpoch`.
    public func indices() -> [Int] { indices(epoch: epoch) }
}
