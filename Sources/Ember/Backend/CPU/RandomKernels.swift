/// Philox random bits from key tensors. Each key's words are exactly those the host-side
/// `Key` draws (`Philox.words`), so a key gives the same numbers eagerly, traced and batched.
enum RandomKernels {
    /// For each key (two int64 entries holding 32-bit words, low then high) of a dense key
    /// tensor [..., 2], out's slice of that key gets the words of `stream` in order.
    /// A key [..., 3] is a generator's state: its third entry is the block to start from.
    static func bits(_ keys: Tensor, _ stream: RandomStream, _ out: Tensor) {
        let width = keys.shape.last ?? 2
        let keyCount = keys.count / width
        let perKey = keyCount == 0 ? 0 : out.count / keyCount
        let blocksPerKey = (perKey + 3) / 4
        let (streamWord, offset) = stream.philox
        let k = keys.pointer(Int64.self), o = out.pointer(Int64.self)
        Parallel.forRange(keyCount * blocksPerKey, cost: 16) { range in
            for item in range {
                let q = item / blocksPerKey, b = item % blocksPerKey
                let key = (UInt32(truncatingIfNeeded: k[width * q]), UInt32(truncatingIfNeeded: k[width * q + 1]))
                let start = width == 3 ? UInt64(bitPattern: k[width * q + 2]) : offset
                let c = start &+ UInt64(b)
                let r = Philox.block(key: key, counter: (UInt32(truncatingIfNeeded: c), UInt32(truncatingIfNeeded: c >> 32), streamWord, 0))
                let base = q * perKey + 4 * b, n = perKey - 4 * b
                o[base] = Int64(r.0)
                if n > 1 { o[base + 1] = Int64(r.1) }
                if n > 2 { o[base + 2] = Int64(r.2) }
                if n > 3 { o[base + 3] = Int64(r.3) }
            }
        }
    }
}
