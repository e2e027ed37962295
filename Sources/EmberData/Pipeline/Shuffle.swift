extension Pipeline {
    /// Elements in a random order, drawn through a buffer of `bufferSize` elements as tf.data
    /// does: each output is a uniformly chosen buffered element, replaced by the next input.
    /// A buffer at least as large as the epoch gives a uniform permutation. The order is
    /// reshuffled each epoch from (seed, epoch).
    public func shuffle(bufferSize: Int, seed: UInt64) -> Pipeline {
        precondition(bufferSize > 0, "Pipeline.shuffle: the buffer size must be positive, got \(bufferSize)")
        return Pipeline(count: count) { epoch in
            let elements = iterator(epoch: epoch)
            var random = SeededRandom(EpochKeys(seed: seed, epoch: epoch).order)
            var buffer: [Element] = []
            buffer.reserveCapacity(Swift.min(bufferSize, count ?? bufferSize))
            return AnyIterator { () -> Element? in
                while buffer.count < bufferSize, let element = elements.next() { buffer.append(element) }
                guard !buffer.isEmpty else { return nil }
                let chosen = random.integer(below: buffer.count)
                buffer.swapAt(chosen, buffer.count - 1)
                return buffer.removeLast()
            }
        }
    }
}
