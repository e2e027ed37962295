import Ember

extension Pipeline {
    /// Consecutive runs of `size` elements joined by `collate`; the last, shorter run is
    /// dropped when `dropRemainder` is true.
    public func batch<Output>(size: Int, dropRemainder: Bool = false, collate: @escaping ([Element]) -> Output) -> Pipeline<Output> {
        precondition(size > 0, "Pipeline.batch: the batch size must be positive, got \(size)")
        let batches = count.map { dropRemainder ? $0 / size : ($0 + size - 1) / size }
        return Pipeline<Output>(count: batches) { epoch in
            let elements = iterator(epoch: epoch)
            return AnyIterator { () -> Output? in
                var run: [Element] = []
                run.reserveCapacity(size)
                while run.count < size, let element = elements.next() { run.append(element) }
                if run.isEmpty || (dropRemainder && run.count < size) { return nil }
                return collate(run)
            }
        }
    }

    /// Tensors stacked along a new leading axis.
    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Tensor> where Element == Tensor {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.stack)
    }

    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Batch> where Element == (Tensor, Int) {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.batch)
    }

    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Batch> where Element == (image: Tensor, label: Int) {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.batch)
    }

    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Batch> where Element == (Tensor, Tensor) {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.batch)
    }

    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Batch> where Element == [Tensor] {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.batch)
    }

    public func batch(size: Int, dropRemainder: Bool = false) -> Pipeline<Batch> where Element == (image: Image, label: Int) {
        batch(size: size, dropRemainder: dropRemainder, collate: Collate.batch)
    }
}
