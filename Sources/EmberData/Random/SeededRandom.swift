import Ember

/// A small, fast generator for per-example random choices (crop offsets, flips, jitter
/// factors, shuffles), seeded from a `Key`. Each example gets its own generator, derived from
/// (seed, epoch, example index), so augmentation never depends on thread timing or on the
/// global generator. The algorithm is xoshiro256**, seeded through SplitMix64; the methods
/// below fix how draws map to values, so results do not change with the Swift version.
public struct SeededRandom: RandomNumberGenerator {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(_ key: Key) {
        var x = key.rawValue
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        (s0, s1, s2, s3) = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public init(seed: UInt64) { self.init(Key(seed)) }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1), 53 random bits.
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform in [range.lowerBound, range.upperBound).
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }

    /// Uniform integer in 0..<bound (the high word of a 64 x 64-bit product: no rejection loop,
    /// and a bias below bound / 2^64, far under anything a data loader could notice).
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0, "SeededRandom.integer(below:): the bound must be positive, got \(bound)")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// True with probability `p`.
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// A uniformly random permutation of 0..<count (Fisher-Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        var i = count - 1
        while i > 0 {
            order.swapAt(i, integer(below: i + 1))
            i -= 1
        }
        return order
    }
}

/// The keys of one epoch of a seeded loader: one stream orders the examples, another seeds
/// each example's augmentation by its dataset index.
struct EpochKeys {
    let order: Key
    let examples: Key

    init(seed: UInt64, epoch: Int) {
        let keys = Key(seed).fold(in: epoch).split(into: 2)
        order = keys[0]
        examples = keys[1]
    }

    func random(forExample index: Int) -> SeededRandom { SeededRandom(examples.fold(in: index)) }
}
