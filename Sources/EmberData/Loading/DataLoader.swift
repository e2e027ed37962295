import Ember

/// Batches of a dataset, epoch after epoch (PyTorch's DataLoader): optionally shuffled by a
/// seeded permutation drawn afresh each epoch, collated, and prepared ahead of the training
/// step by worker threads.
///
/// Everything random is a function of the seed: the order of epoch e is a permutation drawn
/// from (seed, e), and a `RandomizedDataset`'s augmentation of example i in epoch e draws from
/// (seed, e, i). Batches therefore come out identical for any number of workers, and
/// `batches(epoch:skipping:)` resumes exactly where an interrupted epoch stopped.
///
/// Iterating the loader as a `Sequence` runs the next epoch each time (`epoch` counts them).
public final class DataLoader<D: Dataset, Output>: Sequence {
    public let dataset: D
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    /// Threads preparing batches; 0 prepares them in the calling thread.
    public let workers: Int
    /// Batches prepared or in preparation ahead of the consumer.
    public let prefetch: Int
    private let reader: ElementReader<D.Element>
    private let collate: ([D.Element]) -> Output
    private let epochs = EpochCounter()
    /// When set, each epoch batches the sampler's indices (its order, its share of the
    /// dataset) instead of the loader's own order, and `shuffle` is ignored: a
    /// `DistributedSampler` gives each process its part of the data.
    public var sampler: (any Sampler)? {
        didSet {
            if let sampler, sampler.count > 0, let bad = sampler.indices(epoch: 0).first(where: { !(0..<dataset.count).contains($0) }) {
                preconditionFailure("DataLoader: the sampler's index \(bad) is out of range for a dataset of \(dataset.count) examples")
            }
        }
    }

    /// `prefetch` defaults to two batches per worker, as PyTorch's prefetch_factor.
    public init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                workers: Int = 0, prefetch: Int? = nil, collate: @escaping ([D.Element]) -> Output) {
        precondition(batchSize > 0, "DataLoader: the batch size must be positive, got \(batchSize)")
        precondition(workers >= 0, "DataLoader: the number of workers cannot be negative, got \(workers)")
        precondition(prefetch.map { $0 >= 1 } ?? true, "DataLoader: prefetch must be at least 1 batch, got \(prefetch!)")
        self.dataset = dataset
        reader = ElementReader(dataset)
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.workers = workers
        self.prefetch = prefetch ?? Swift.max(1, 2 * workers)
        self.collate = collate
    }

    /// Batches per epoch.
    public var count: Int {
        let examples = sampler?.count ?? dataset.count
        return dropLast ? examples / batchSize : (examples + batchSize - 1) / batchSize
    }

    /// The epoch the next `for batch in loader` runs; set it to resume at a given epoch.
    public var epoch: Int {
        get { epochs.value }
        set { epochs.value = newValue }
    }

    /// The dataset indices of epoch `epoch`, in the order its batches take them.
    public func order(epoch: Int) -> [Int] {
        if let sampler { return sampler.indices(epoch: epoch) }
        guard shuffle else { return Array(0..<dataset.count) }
        var random = SeededRandom(EpochKeys(seed: seed, epoch: epoch).order)
        return random.permutation(dataset.count)
    }

    /// The batches of `epoch` (from 0), in order, after the first `skip`; the skipped
    /// batches are not prepared.
    public func iterator(epoch: Int, skipping skip: Int = 0) -> Iterator {
        precondition(skip >= 0, "DataLoader: cannot skip a negative number of batches (\(skip))")
        let order = order(epoch: epoch)
        let keys = EpochKeys(seed: seed, epoch: epoch)
        let (batchSize, reader, collate) = (batchSize, reader, collate)
        let work = { (batch: Int) -> Output in
            let end = Swift.min(order.count, (batch + 1) * batchSize)
            let examples = order[(batch * batchSize)..<end].map { index in
                var random = keys.random(forExample: index)
                return reader.read(index, &random)
            }
            return collate(examples)
        }
        let batchNumbers = AnyIterator((Swift.min(skip, count)..<count).makeIterator())
        if workers == 0 {
            return Iterator(AnyIterator { batchNumbers.next().map(work) })
        }
        return Iterator(AnyIterator(OrderedWorkers<Int, Output>(batchNumbers, workers: workers, depth: prefetch, work: work)))
    }

    /// The next epoch's batches.
    public func makeIterator() -> Iterator {
        iterator(epoch: epochs.advance())
    }

    /// The batches of one epoch. Dropping it stops its worker threads.
    public struct Iterator: IteratorProtocol {
        private let batches: AnyIterator<Output>

        init(_ batches: AnyIterator<Output>) { self.batches = batches }

        public func next() -> Output? { batches.next() }
    }
}

extension DataLoader: BatchProvider, SampledBatchProvider where Output == Batch {
    public var batchesPerEpoch: Int? { count }
    public var datasetCount: Int { dataset.count }

    public func batches(epoch: Int, skipping skip: Int) -> AnyIterator<Batch> {
        AnyIterator(iterator(epoch: epoch, skipping: skip))
    }
}

// The default collates for the common example types.
extension DataLoader where Output == Batch {
    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) where D.Element == (Tensor, Int) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch, collate: Collate.batch)
    }

    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) where D.Element == (image: Tensor, label: Int) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch, collate: Collate.batch)
    }

    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) where D.Element == (Tensor, Tensor) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch, collate: Collate.batch)
    }

    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) where D.Element == [Tensor] {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch, collate: Collate.batch)
    }

    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) where D.Element == (image: Image, label: Int) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch, collate: Collate.batch)
    }
}
