import Ember

/// The examples of a dataset at chosen indices, in that order.
public struct Subset<Base: Dataset>: Dataset {
    public let base: Base
    public let indices: [Int]

    public init(_ base: Base, indices: [Int]) {
        if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
            preconditionFailure("Subset: index \(bad) is out of range 0..<\(base.count)")
        }
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }

    public subscript(index: Int) -> Base.Element { base[indices[index]] }
}

extension Subset: RandomizedDataset where Base: RandomizedDataset {
    public func element(at index: Int, using random: inout SeededRandom) -> Base.Element {
        base.element(at: indices[index], using: &random)
    }
}

extension Dataset {
    /// Disjoint random subsets of the given sizes, which must add up to `count`
    /// (PyTorch's random_split with a seeded generator).
    public func randomSplit(_ sizes: [Int], seed: UInt64) -> [Subset<Self>] {
        precondition(sizes.allSatisfy { $0 >= 0 }, "randomSplit: sizes must be non-negative, got \(sizes)")
        precondition(sizes.reduce(0, +) == count, "randomSplit: sizes \(sizes) add up to \(sizes.reduce(0, +)), not the dataset's \(count) examples")
        var random = SeededRandom(Key(seed))
        let order = random.permutation(count)
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return Subset(self, indices: Array(order[start..<(start + size)]))
        }
    }

    /// Disjoint random subsets holding the given fractions of the examples (which must add
    /// up to 1); rounding remainders go to the first subsets, as in PyTorch.
    public func randomSplit(fractions: [Double], seed: UInt64) -> [Subset<Self>] {
        precondition(fractions.allSatisfy { $0 >= 0 } && abs(fractions.reduce(0, +) - 1) < 1e-9,
                     "randomSplit: fractions \(fractions) must be non-negative and add up to 1")
        var sizes = fractions.map { Int(($0 * Double(count)).rounded(.down)) }
        for i in 0..<(count - sizes.reduce(0, +)) { sizes[i % sizes.count] += 1 }
        return randomSplit(sizes, seed: seed)
    }
}
