extension Pipeline {
    /// Each element passed through `transform`; with `threads` > 0 that many background threads
    /// transform elements concurrently, still yielding them in order.
    public func map<Output>(threads: Int = 0, _ transform: @escaping (Element) -> Output) -> Pipeline<Output> {
        mapPositions(threads: threads) { element, _, _ in transform(element) }
    }

    /// Each element passed through a (possibly random) `Transform`; the i-th element of epoch e
    /// draws from a generator seeded by (seed, e, i), whatever the number of threads.
    public func map<T: Transform>(_ transform: T, seed: UInt64 = 0, threads: Int = 0) -> Pipeline<T.Output> where T.Input == Element {
        mapPositions(threads: threads) { element, epoch, position in
            var random = EpochKeys(seed: seed, epoch: epoch).random(forExample: position)
            return transform(element, using: &random)
        }
    }

    /// The image of each labeled example passed through `transform`, seeded as `map(_:seed:threads:)`; the label is kept.
    public func map<T: Transform>(images transform: T, seed: UInt64 = 0, threads: Int = 0) -> Pipeline<(image: T.Output, label: Int)>
    where Element == (image: Image, label: Int), T.Input == Image {
        mapPositions(threads: threads) { example, epoch, position in
            var random = EpochKeys(seed: seed, epoch: epoch).random(forExample: position)
            return (transform(example.image, using: &random), example.label)
        }
    }

    /// Only the elements for which `isIncluded` is true.
    public func filter(_ isIncluded: @escaping (Element) -> Bool) -> Pipeline {
        Pipeline(count: nil) { epoch in
            let elements = iterator(epoch: epoch)
            return AnyIterator { () -> Element? in
                while let element = elements.next() {
                    if isIncluded(element) { return element }
                }
                return nil
            }
        }
    }

    private func mapPositions<Output>(threads: Int, _ transform: @escaping (Element, Int, Int) -> Output) -> Pipeline<Output> {
        precondition(threads >= 0, "Pipeline.map: the number of threads cannot be negative, got \(threads)")
        return Pipeline<Output>(count: count) { epoch in
            let numbered = AnyIterator(IteratorSequence(iterator(epoch: epoch)).enumerated().makeIterator())
            if threads == 0 {
                return AnyIterator { numbered.next().map { transform($0.element, epoch, $0.offset) } }
            }
            let workers = OrderedWorkers<(offset: Int, element: Element), Output>(numbered, workers: threads, depth: 2 * threads) {
                transform($0.element, epoch, $0.offset)
            }
            return AnyIterator(workers)
        }
    }
}
