/// A dataset whose examples make random choices (augmentation). Loaders and pipelines hand
/// each example a generator seeded from (seed, epoch, example index), so an example is
/// augmented differently every epoch yet identically for any number of workers and on resume.
/// Plain subscripting draws as if from seed 0, epoch 0.
public protocol RandomizedDataset: Dataset {
    /// The example at `index`, its random choices drawn from `random`.
    func element(at index: Int, using random: inout SeededRandom) -> Element
}

extension RandomizedDataset {
    public subscript(index: Int) -> Element {
        var random = EpochKeys(seed: 0, epoch: 0).random(forExample: index)
        return element(at: index, using: &random)
    }
}

/// How loaders, pipelines and wrappers read a dataset: through its generator when it is a
/// `RandomizedDataset` (found at run time, so generic code keeps the augmentation).
struct ElementReader<Element> {
    let read: (Int, inout SeededRandom) -> Element

    init<D: Dataset>(_ dataset: D) where D.Element == Element {
        if let randomized = dataset as? any RandomizedDataset {
            read = Self.reading(randomized)
        } else {
            read = { index, _ in dataset[index] }
        }
    }

    private static func reading<R: RandomizedDataset>(_ dataset: R) -> (Int, inout SeededRandom) -> Element {
        let read: (Int, inout SeededRandom) -> R.Element = { index, random in dataset.element(at: index, using: &random) }
        // R is the dataset whose Element is `Element`; the cast only restores that fact.
        return read as! (Int, inout SeededRandom) -> Element
    }
}
