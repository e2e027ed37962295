/// A tf.data-style input pipeline: a recipe for the elements of each epoch, built from a
/// source (a dataset, an array, an iterator factory) and chained operations (`map`, `filter`,
/// `shuffle`, `batch`, `prefetch`, `cache`, `repeat`, `take`, `skip`).
///
/// Epochs are numbered from 0 and everything random is seeded per epoch, so the elements of an
/// epoch are a function of its number alone. Iterating the pipeline as a `Sequence` runs the
/// next epoch each time; `iterator(epoch:)` runs a given one.
public struct Pipeline<Element>: Sequence {
    /// Elements per epoch, when known without iterating.
    public let count: Int?
    private let make: (_ epoch: Int) -> AnyIterator<Element>
    private let epochs = EpochCounter()

    /// A pipeline whose epoch `epoch` yields the elements of `makeIterator(epoch)`.
    public init<I: IteratorProtocol>(count: Int? = nil, _ makeIterator: @escaping (_ epoch: Int) -> I) where I.Element == Element {
        self.count = count
        make = { AnyIterator(makeIterator($0)) }
    }

    /// The elements of an array, in order.
    public init(_ elements: [Element]) {
        self.init(count: elements.count) { _ in elements.makeIterator() }
    }

    /// The examples of a dataset, in index order. A `RandomizedDataset` draws example i of
    /// epoch e from (seed, e, i), as a `DataLoader` with the same seed does.
    public init<D: Dataset>(_ dataset: D, seed: UInt64 = 0) where D.Element == Element {
        let reader = ElementReader(dataset)
        self.init(count: dataset.count) { epoch in
            let keys = EpochKeys(seed: seed, epoch: epoch)
            return (0..<dataset.count).lazy.map { index in
                var random = keys.random(forExample: index)
                return reader.read(index, &random)
            }.makeIterator()
        }
    }

    /// The elements of epoch `epoch`.
    public func iterator(epoch: Int) -> AnyIterator<Element> {
        precondition(epoch >= 0, "Pipeline: epochs are counted from 0, got \(epoch)")
        return make(epoch)
    }

    /// The epoch the next `for element in pipeline` runs; set it to resume at a given epoch.
    public var epoch: Int {
        get { epochs.value }
        nonmutating set { epochs.value = newValue }
    }

    /// The next epoch's elements.
    public func makeIterator() -> AnyIterator<Element> {
        iterator(epoch: epochs.advance())
    }

    public var underestimatedCount: Int { count ?? 0 }
}

extension Pipeline: BatchProvider where Element == Batch {
    public var batchesPerEpoch: Int? { count }

    /// A pipeline is a stream, so the skipped batches are still computed (and discarded).
    public func batches(epoch: Int, skipping skip: Int) -> AnyIterator<Batch> {
        precondition(skip >= 0, "Pipeline: cannot skip a negative number of batches (\(skip))")
        let batches = iterator(epoch: epoch)
        for _ in 0..<skip where batches.next() == nil { break }
        return batches
    }
}
