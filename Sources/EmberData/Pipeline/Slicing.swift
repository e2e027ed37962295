extension Pipeline {
    /// The elements `count` times over, or forever when `count` is nil. Each repetition is a
    /// separate pass of the upstream (reshuffled): repetition r of epoch e runs upstream epoch
    /// e * count + r, or e * 2^32 + r when repeating forever.
    public func `repeat`(_ count: Int? = nil) -> Pipeline {
        precondition(count.map { $0 >= 0 } ?? true, "Pipeline.repeat: the count cannot be negative, got \(count!)")
        let total: Int? = count.flatMap { n in self.count.map { n * $0 } }
        return Pipeline(count: total) { epoch in
            let passes = count ?? Int.max
            let first = count.map { epoch * $0 } ?? epoch << 32
            var repetition = 0
            var current: AnyIterator<Element>?
            return AnyIterator { () -> Element? in
                while repetition < passes {
                    if current == nil { current = iterator(epoch: first + repetition) }
                    if let element = current!.next() { return element }
                    current = nil
                    repetition += 1
                    // An empty upstream repeated forever would otherwise spin.
                    if self.count == 0 { return nil }
                }
                return nil
            }
        }
    }

    /// The first `n` elements.
    public func take(_ n: Int) -> Pipeline {
        precondition(n >= 0, "Pipeline.take: the count cannot be negative, got \(n)")
        return Pipeline(count: count.map { Swift.min($0, n) }) { epoch in
            iterator(epoch: epoch).prefix(n).makeIterator()
        }
    }

    /// All but the first `n` elements.
    public func skip(_ n: Int) -> Pipeline {
        precondition(n >= 0, "Pipeline.skip: the count cannot be negative, got \(n)")
        return Pipeline(count: count.map { Swift.max($0 - n, 0) }) { epoch in
            iterator(epoch: epoch).dropFirst(n).makeIterator()
        }
    }
}
