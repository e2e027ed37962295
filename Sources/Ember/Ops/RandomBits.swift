/// Random numbers from key tensors: the `randomBits` primitive's shape rule, and the key
/// operations and distributions built on it.
///
/// Host-generated random tensors enter a trace as constants, so they cannot vary between
/// replays or across a `vmap` batch. A key tensor (int64 [2]: a `Key`'s low and high 32-bit
/// words) is an ordinary input instead: the same key gives the same numbers eagerly, traced
/// or replayed; a batched key [B, 2] gives each example its own stream under `vmap`, and an
/// unbatched key gives every example the same numbers, as in JAX.
enum RandomKeys {
    static func bitsSpec(_ shape: [Int], _ stream: RandomStream, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let key = inputs[0]
        // [..., 3]: a generator's state, whose third word is the block its values start at.
        let words = stream == .values ? [2, 3] : [2]
        if key.dtype != .int64 || !words.contains(key.shape.last ?? 0) {
            throw ShapeError("random_bits", "expected a key tensor of int64 [..., 2] (two 32-bit words per key), got \(key); make one with Key(seed).tensor")
        }
        if shape.contains(where: { $0 < 0 }) { throw ShapeError("random_bits", "the shape \(shape) has a negative size") }
        return TensorSpec(key.shape.dropLast() + shape, .int64)
    }

    static func checkKey(_ op: String, _ key: Tensor) {
        precondition(key.shape == [2] && key.dtype == .int64,
                     "\(op): expected one key, an int64 tensor [2], got \(key.spec); under vmap pass a batch of keys [B, 2] as a batched argument")
    }
}

extension Key {
    /// The key as a key tensor: int64 [2] holding its low and high 32-bit words.
    public var tensor: Tensor {
        Tensor([Int64(rawValue & 0xFFFF_FFFF), Int64(rawValue >> 32)])
    }

    /// The key a key tensor [2] holds (reads its values, so not inside a trace).
    public init(_ tensor: Tensor) {
        RandomKeys.checkKey("Key", tensor)
        self.init(words: tensor.scalars(as: Int64.self).map { UInt32(truncatingIfNeeded: $0) })
    }
}

extension Tensor {
    /// The key tensor of `seed` (`Key(seed).tensor`).
    public static func randomKey(_ seed: UInt64) -> Tensor { Key(seed).tensor }

    /// `count` new keys from each key of a key tensor [..., 2]: [..., count, 2], the keys
    /// `Key.split(into:)` gives.
    public func splitKey(into count: Int = 2) -> Tensor {
        Dispatch.run1(.randomBits(shape: [count, 2], stream: .split), [self])
    }

    /// The key that `data` folds each key of a key tensor [..., 2] into (`Key.fold(in:)`).
    public func foldKey(in data: Int) -> Tensor {
        Dispatch.run1(.randomBits(shape: [2], stream: .fold(data)), [self])
    }

    /// Random 32-bit words (int64 values in 0..<2^32) of `shape` for each key of a key tensor
    /// [..., 2]: [...] + shape.
    public static func randomBits(_ shape: [Int], key: Tensor) -> Tensor {
        Dispatch.run1(.randomBits(shape: shape, stream: .values), [key])
    }

    /// Uniform values in [low, high) of `shape` for each key of a key tensor [..., 2]. Exactly
    /// the numbers `randomUniform(_:low:high:dtype:source: .key(Key(key)))` draws.
    public static func randomUniform(_ shape: [Int], key: Tensor, low: Double = 0, high: Double = 1,
                                     dtype: DType = .float32) -> Tensor {
        let words = randomBits(shape + [2], key: key)
        let first = words.narrow(axis: -1, start: 0, count: 1).squeezed(axis: -1)
        let second = words.narrow(axis: -1, start: 1, count: 1).squeezed(axis: -1)
        // 53 random bits per value, (first << 21) | (second >> 11).
        let bits = first * Double(1 << 21) + second.floorDivided(by: Tensor.scalar(2048, dtype: .int64))
        let unit = bits.cast(to: .float64) * 0x1p-53
        return (unit * (high - low) + low).cast(to: dtype)
    }

    /// Normal values with the given mean and standard deviation of `shape` for each key of a
    /// key tensor [..., 2] (Box-Muller: each pair of uniforms gives two values, r cos θ and
    /// r sin θ). Exactly the numbers `randomNormal(_:mean:std:dtype:source: .key(Key(key)))` draws.
    public static func randomNormal(_ shape: [Int], key: Tensor, mean: Double = 0, std: Double = 1,
                                    dtype: DType = .float32) -> Tensor {
        let count = ShapeMath.count(shape), pairs = (count + 1) / 2
        let u = randomUniform([pairs, 2], key: key, dtype: .float64)
        let batch = Array(u.shape.dropLast(2))
        // 1 - u avoids log(0).
        let radius = ((1 - u.narrow(axis: -1, start: 0, count: 1)).log() * -2).sqrt() * std
        let angle = u.narrow(axis: -1, start: 1, count: 1) * (2 * Double.pi)
        let values = Tensor.concatenate([radius * angle.cos(), radius * angle.sin()], axis: -1).reshaped(to: batch + [2 * pairs])
        return (values.narrow(axis: -1, start: 0, count: count).reshaped(to: batch + shape) + mean).cast(to: dtype)
    }
}

/// Inverted dropout with an explicit key tensor [2]: each element is zeroed with probability
/// p and the others are scaled by 1 / (1 - p), so the expected value is unchanged. The mask
/// depends only on the key and the shape, so it varies with the key inside traces and across
/// a batch of keys under `vmap`.
public func dropout(_ x: Tensor, probability p: Double, key: Tensor) -> Tensor {
    precondition(p >= 0 && p <= 1, "dropout: probability \(p) is outside [0, 1]")
    RandomKeys.checkKey("dropout", key)
    if p == 0 { return x }
    let keep = Tensor.randomUniform(x.shape, key: key, dtype: .float64) .>= p
    // A mask multiplied in (not a select), so that p = 1 gives zeros with zero gradients.
    return x * (keep.cast(to: x.dtype) * (p < 1 ? 1 / (1 - p) : 0))
}

/// Inverted dropout with a `Key`.
public func dropout(_ x: Tensor, probability p: Double, key: Key) -> Tensor {
    dropout(x, probability: p, key: key.tensor)
}
