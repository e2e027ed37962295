extension Pipeline {
    /// Up to `count` elements prepared ahead by a background thread, so the consumer's work
    /// overlaps the pipeline's. Dropping the iterator stops the thread.
    public func prefetch(_ count: Int) -> Pipeline {
        precondition(count > 0, "Pipeline.prefetch: the prefetch depth must be positive, got \(count)")
        return Pipeline(count: self.count) { epoch in
            AnyIterator(OrderedWorkers<Element, Element>(iterator(epoch: epoch), workers: 1, depth: count) { $0 })
        }
    }
}
