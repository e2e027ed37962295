import Foundation

/// Counter-based random numbers (Philox4x32-10, as used by JAX, PyTorch's CUDA generator
/// and NumPy): the bits for element i depend only on the key and i, so results are the
/// same on every run, thread count and machine.
enum Philox {
    @inline(__always)
    static func block(key: (UInt32, UInt32), counter: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c1 = UInt32(truncatingIfNeeded: p1)
            c3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// `count` 32-bit words for `key`, starting at block `offset` of stream `stream`.
    static func words(key: UInt64, stream: UInt32, offset: UInt64, count: Int) -> [UInt32] {
        let k = (UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32))
        let blocks = (count + 3) / 4
        var out = [UInt32](repeating: 0, count: blocks * 4)
        out.withUnsafeMutableBufferPointer { buffer in
            Parallel.forRange(blocks, cost: 16) { range in
                for b in range {
                    let c = offset &+ UInt64(b)
                    let r = block(key: k, counter: (UInt32(truncatingIfNeeded: c), UInt32(truncatingIfNeeded: c >> 32), stream, 0))
                    buffer[4 * b] = r.0
                    buffer[4 * b + 1] = r.1
                    buffer[4 * b + 2] = r.2
                    buffer[4 * b + 3] = r.3
                }
            }
        }
        return Array(out.prefix(count))
    }
}

/// Which of a key's Philox streams bits come from. A key's values, the keys split from it
/// and the keys folded from it use separate streams (the third counter word), so they are
/// independent of each other.
public enum RandomStream: Hashable, Sendable, CustomStringConvertible {
    /// The key's random values.
    case values
    /// The keys `split` derives from the key, two words each.
    case split
    /// The key that folding `data` into the key derives (two words, at block `data`).
    case fold(Int)
    /// The key a seed becomes (the seed is itself used as the Philox key).
    case seed

    /// The stream word and first block of the Philox counter.
    var philox: (stream: UInt32, offset: UInt64) {
        switch self {
        case .values: return (0, 0)
        case .split: return (0xFFFF_FFFE, 0)
        case .fold(let data): return (0xFFFF_FFFD, UInt64(bitPattern: Int64(data)))
        case .seed: return (0xFFFF_FFFF, 0)
        }
    }

    public var description: String {
        switch self {
        case .values: return "values"
        case .split: return "split"
        case .fold(let data): return "fold(\(data))"
        case .seed: return "seed"
        }
    }
}

extension Philox {
    /// `count` words of `stream` for a key given as two 32-bit words.
    static func words(key: UInt64, _ stream: RandomStream, count: Int) -> [UInt32] {
        words(key: key, stream: stream.philox.stream, offset: stream.philox.offset, count: count)
    }
}

/// An explicit random key for the functional style (JAX's PRNGKey): split it to get
/// independent keys; the same key always gives the same numbers. Inside traced and
/// vectorized functions keys are tensors instead (`tensor`, and the key operations in
/// Ops/RandomBits.swift), which compute exactly what these methods do.
public struct Key: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ seed: UInt64) {
        // Mix the seed so that nearby seeds give unrelated streams.
        self.init(words: Philox.words(key: seed, .seed, count: 2))
    }

    init(rawValue: UInt64) { self.rawValue = rawValue }

    init<S: Collection>(words: S) where S.Element == UInt32 {
        rawValue = UInt64(words[words.startIndex]) | UInt64(words[words.index(after: words.startIndex)]) << 32
    }

    /// `count` new independent keys.
    public func split(into count: Int = 2) -> [Key] {
        let words = Philox.words(key: rawValue, .split, count: 2 * count)
        return (0..<count).map { Key(words: words[(2 * $0)..<(2 * $0 + 2)]) }
    }

    /// A new key determined by this one and `data` (for per-step or per-layer keys).
    public func fold(in data: Int) -> Key {
        Key(words: Philox.words(key: rawValue, .fold(data), count: 2))
    }

    public var description: String { "Key(0x\(String(rawValue, radix: 16)))" }
}

/// A stateful generator for the PyTorch-style API: a key plus a position that advances
/// with every draw, so a seeded program draws the same numbers on every run.
public final class Generator: @unchecked Sendable {
    private var key: Key
    private var position: UInt64 = 0
    private let lock = NSLock()

    public init(seed: UInt64) { key = Key(seed) }

    /// The global generator, seeded with 0 until `manualSeed` is called.
    public static let global = Generator(seed: 0)

    public func manualSeed(_ seed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        key = Key(seed)
        position = 0
    }

    /// The generator's state (for checkpoints) and its restoration.
    public var state: (key: UInt64, position: UInt64) {
        get { lock.withLock { (key.rawValue, position) } }
        set { lock.withLock { key = Key(rawValue: newValue.key); position = newValue.position } }
    }

    /// The Philox state (int64 [3]: the key's low and high words, then the first block) that
    /// a draw of `blocks` blocks starts from, advancing the generator past them. While a
    /// trace records, the state is a value of the traced graph instead, fed from this
    /// generator at every call (`Graph.RandomState`), so compiled functions draw fresh numbers.
    func state(advancingBy blocks: Int) -> Tensor {
        if let tracer = Tracer.current { return tracer.generatorState(self, advancingBy: blocks) }
        lock.lock()
        let (word, start) = (key.rawValue, position)
        position &+= UInt64(blocks)
        lock.unlock()
        return Tensor([Int64(word & 0xFFFF_FFFF), Int64(word >> 32), Int64(bitPattern: start)])
    }
}

/// Seeds the global generator.
public func manualSeed(_ seed: UInt64) { Generator.global.manualSeed(seed) }

/// Where random bits come from: the global generator, a given one, or an explicit key.
///
/// Every distribution is computed with tensor operations from Philox bits, the same way
/// eagerly and inside traced functions: so `compile` of a function that draws from the
/// global generator gives, call after call, the numbers eager calls give.
public enum RandomSource {
    case generator(Generator)
    case key(Key)

    public static var global: RandomSource { .generator(.global) }

    /// The key tensor [2] or generator state [3] that a draw of `count` 32-bit words starts from.
    func state(words count: Int) -> Tensor {
        switch self {
        case .generator(let g): return g.state(advancingBy: (count + 3) / 4)
        case .key(let k): return k.tensor
        }
    }
}

extension Tensor {
    /// Uniform values in [low, high).
    public static func randomUniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                                     source: RandomSource = .global) -> Tensor {
        randomUniform(shape, key: source.state(words: 2 * ShapeMath.count(shape)), low: low, high: high, dtype: dtype)
    }

    /// Normal values with the given mean and standard deviation (Box-Muller).
    public static func randomNormal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                                    source: RandomSource = .global) -> Tensor {
        let pairs = (ShapeMath.count(shape) + 1) / 2
        return randomNormal(shape, key: source.state(words: 4 * pairs), mean: mean, std: std, dtype: dtype)
    }

    /// Uniform integers in [low, high).
    public static func randomIntegers(_ shape: [Int], low: Int = 0, high: Int, dtype: DType = .int64,
                                      source: RandomSource = .global) -> Tensor {
        precondition(high > low, "randomIntegers: high (\(high)) must exceed low (\(low))")
        let span = Double(high - low)
        let u = randomUniform(shape, key: source.state(words: 2 * ShapeMath.count(shape)), dtype: .float64)
        return (Ember.minimum((u * span).floor(), Tensor.scalar(span - 1, dtype: .float64)) + Double(low)).cast(to: dtype)
    }

    /// 1 with probability p, else 0.
    public static func bernoulli(_ shape: [Int], probability p: Double, dtype: DType = .float32,
                                 source: RandomSource = .global) -> Tensor {
        precondition(p >= 0 && p <= 1, "bernoulli: probability \(p) is outside [0, 1]")
        let u = randomUniform(shape, key: source.state(words: 2 * ShapeMath.count(shape)), dtype: .float64)
        return (u .< p).cast(to: dtype)
    }
}
