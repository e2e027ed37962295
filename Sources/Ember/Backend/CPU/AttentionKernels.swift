/// Scaled-dot-product attention without the [..., L, S] scores (FlashAttention on the CPU).
///
/// Forward: each task takes a block of query rows and walks the keys in blocks, keeping per
/// row the running maximum, the running sum of exponentials and the unnormalized output
/// (online softmax); it writes the output and the row's log-sum-exp. Backward (FlashAttention-2):
/// each task takes one batch entry and walks the key blocks; for every query row it recomputes
/// the row's probabilities from the saved log-sum-exp and adds to dQ, dK and dV. Causal
/// attention skips the key blocks that lie wholly after a query block (and, backward, the
/// query rows before a key block). Scratch memory is O(block · (E + Ev)) per task.
///
/// The block products are axpy loops over contiguous rows (the key and value blocks are
/// transposed into scratch first), which the compiler vectorizes; the shapes were validated
/// by the primitive's shape rule, so the loops use unsafe pointers.
enum AttentionKernels {
    /// Query rows per forward task and keys per block.
    static let queryBlock = 64
    static let keyBlock = 128

    /// A [batch..., rows, columns] operand with unit column stride: where each batch entry
    /// starts (broadcast entries share), and the row stride.
    struct Operand<T> {
        let base: UnsafeMutablePointer<T>
        let offsets: [Int]
        let rowStride: Int
        let columnStride: Int
        /// Keeps a dense copy alive while the kernel reads it.
        let tensor: Tensor

        func row(_ batch: Int, _ row: Int) -> UnsafeMutablePointer<T> { base + offsets[batch] + row * rowStride }
    }

    /// `x` broadcast to `batchShape` + its last two axes; `dense` copies it when its columns are strided.
    static func operand<T>(_ x: Tensor, batchShape: [Int], dense: Bool, backend: CPUBackend, _: T.Type) -> Operand<T> {
        let padded = x.rank >= 2 ? x : x.reshaped(to: Array(repeating: 1, count: 2 - x.rank) + x.shape)
        let rows = padded.shape[padded.rank - 2], columns = padded.shape[padded.rank - 1]
        let source = dense && padded.strides.last! != 1 && columns > 1 ? backend.contiguous(padded) : padded
        let lead = source.sameLayout(shape: Array(source.shape.dropLast(2)), strides: Array(source.strides.dropLast(2)))
        let strides = StridedLoop.broadcastStrides(lead, to: batchShape)
        var offsets = [Int](repeating: 0, count: max(1, ShapeMath.count(batchShape)))
        var index = [Int](repeating: 0, count: batchShape.count)
        for b in offsets.indices {
            offsets[b] = zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }
            for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
                index[axis] += 1
                if index[axis] < batchShape[axis] { break }
                index[axis] = 0
            }
        }
        let rank = source.rank
        return Operand(base: source.pointer(T.self), offsets: offsets, rowStride: rows == 1 ? 0 : source.strides[rank - 2],
                       columnStride: columns == 1 ? 0 : source.strides[rank - 1], tensor: source)
    }

    static func forward(_ config: AttentionConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        switch inputs[0].dtype {
        case .float32: forward(config, inputs, outputs, backend: backend, Float.self)
        case .float64: forward(config, inputs, outputs, backend: backend, Double.self)
        default: preconditionFailure("attention: no kernel for \(inputs[0].dtype)")
        }
    }

    static func backward(_ config: AttentionConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        switch inputs[0].dtype {
        case .float32: backward(config, inputs, outputs, backend: backend, Float.self)
        case .float64: backward(config, inputs, outputs, backend: backend, Double.self)
        default: preconditionFailure("attention_backward: no kernel for \(inputs[0].dtype)")
        }
    }

    /// The scores of query row `q` against keys j0..<j0+count (transposed in `kT`, row stride
    /// keyBlock), scaled and masked, into `scores`.
    @inline(__always)
    static func scoreRow<T: KernelFloat>(_ scores: UnsafeMutablePointer<T>, _ q: UnsafeMutablePointer<T>, _ kT: UnsafeMutablePointer<T>,
                                         e: Int, count: Int, scale: T, mask: Operand<T>?, booleanMask: Operand<Bool>?,
                                         batch: Int, row: Int, firstKey: Int, causal: Bool) {
        for j in 0..<count { scores[j] = 0 }
        for p in 0..<e {
            let a = q[p] * scale, column = kT + p * keyBlock
            for j in 0..<count { scores[j] += a * column[j] }
        }
        if let mask {
            let m = mask.row(batch, row) + firstKey * mask.columnStride
            for j in 0..<count { scores[j] += m[j * mask.columnStride] }
        }
        if let booleanMask {
            let m = booleanMask.row(batch, row) + firstKey * booleanMask.columnStride
            for j in 0..<count where !m[j * booleanMask.columnStride] { scores[j] = -T.infinity }
        }
        if causal && firstKey + count - 1 > row {
            for j in max(0, row + 1 - firstKey)..<count { scores[j] = -T.infinity }
        }
    }

    /// x[j] = exp(x[j] - shift), vectorized for float32.
    @inline(__always)
    static func expShifted<T: KernelFloat>(_ x: UnsafeMutablePointer<T>, _ count: Int, shift: T) {
        for j in 0..<count { x[j] -= shift }
        if T.self == Float.self {
            let f = UnsafeMutableRawPointer(x).assumingMemoryBound(to: Float.self)
            VectorMath.apply(.exp, f, f, count)
        } else {
            for j in 0..<count { x[j] = T.exp(x[j]) }
        }
    }

    /// The block [j0, j0 + count) of `x`'s rows of `width`, transposed into `target` (row stride keyBlock).
    @inline(__always)
    static func transposeBlock<T>(_ x: Operand<T>, batch: Int, j0: Int, count: Int, width: Int, into target: UnsafeMutablePointer<T>) {
        for j in 0..<count {
            let row = x.row(batch, j0 + j)
            for p in 0..<width { target[p * keyBlock + j] = row[p * x.columnStride] }
        }
    }

    static func masks<T>(_ config: AttentionConfig, _ mask: Tensor?, batchShape: [Int], backend: CPUBackend,
                         _: T.Type) -> (Operand<T>?, Operand<Bool>?) {
        guard let mask else { return (nil, nil) }
        if config.mask == .boolean { return (nil, operand(mask, batchShape: batchShape, dense: false, backend: backend, Bool.self)) }
        return (operand(mask, batchShape: batchShape, dense: false, backend: backend, T.self), nil)
    }

    static func forward<T: KernelFloat>(_ config: AttentionConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend, _: T.Type) {
        let out = outputs[0], lse = outputs[1].pointer(T.self)
        let batchShape = Array(out.shape.dropLast(2)), batch = ShapeMath.count(batchShape)
        let l = out.shape[out.rank - 2], ev = out.shape[out.rank - 1]
        let e = inputs[0].shape.last!, s = inputs[1].shape[inputs[1].rank - 2]
        let q = operand(inputs[0], batchShape: batchShape, dense: true, backend: backend, T.self)
        let k = operand(inputs[1], batchShape: batchShape, dense: true, backend: backend, T.self)
        let v = operand(inputs[2], batchShape: batchShape, dense: true, backend: backend, T.self)
        let (mask, booleanMask) = masks(config, config.hasMask ? inputs[3] : nil, batchShape: batchShape, backend: backend, T.self)
        let o = out.pointer(T.self), scale = T(config.scale), causal = config.isCausal
        let blocks = (l + queryBlock - 1) / queryBlock
        guard batch * blocks > 0 else { return }
        Parallel.forRange(batch * blocks, cost: queryBlock * max(1, s) * (e + ev)) { range in
            let scores = UnsafeMutablePointer<T>.allocate(capacity: queryBlock * keyBlock)
            let kT = UnsafeMutablePointer<T>.allocate(capacity: max(1, e) * keyBlock)
            let accumulator = UnsafeMutablePointer<T>.allocate(capacity: queryBlock * max(1, ev))
            let rowMax = UnsafeMutablePointer<T>.allocate(capacity: queryBlock)
            let rowSum = UnsafeMutablePointer<T>.allocate(capacity: queryBlock)
            defer { [scores, kT, accumulator, rowMax, rowSum].forEach { $0.deallocate() } }
            for task in range {
                let b = task / blocks, i0 = (task % blocks) * queryBlock, rows = min(queryBlock, l - i0)
                for r in 0..<rows { rowMax[r] = -T.infinity; rowSum[r] = 0 }
                for c in 0..<(rows * ev) { accumulator[c] = 0 }
                // Keys after the block's last query are hidden from all of its rows.
                let keyEnd = causal ? min(s, i0 + rows) : s
                for j0 in stride(from: 0, to: keyEnd, by: keyBlock) {
                    let count = min(keyBlock, keyEnd - j0)
                    transposeBlock(k, batch: b, j0: j0, count: count, width: e, into: kT)
                    for r in 0..<rows {
                        let i = i0 + r, row = scores + r * keyBlock
                        scoreRow(row, q.row(b, i), kT, e: e, count: count, scale: scale, mask: mask, booleanMask: booleanMask,
                                 batch: b, row: i, firstKey: j0, causal: causal)
                        var blockMax = -T.infinity
                        for j in 0..<count { blockMax = max(blockMax, row[j]) }
                        let newMax = max(rowMax[r], blockMax)
                        if newMax == -T.infinity { continue }
                        // Earlier terms were exponentiated against the old maximum.
                        let correction = T.exp(rowMax[r] - newMax)
                        expShifted(row, count, shift: newMax)
                        var total: T = 0
                        for j in 0..<count { total += row[j] }
                        rowSum[r] = rowSum[r] * correction + total
                        rowMax[r] = newMax
                        let acc = accumulator + r * ev
                        if correction != 1 { for c in 0..<ev { acc[c] *= correction } }
                        for j in 0..<count where row[j] != 0 {
                            let p = row[j], value = v.row(b, j0 + j)
                            for c in 0..<ev { acc[c] += p * value[c] }
                        }
                    }
                }
                for r in 0..<rows {
                    let index = b * l + i0 + r, target = o + index * ev, acc = accumulator + r * ev
                    if rowSum[r] == 0 {
                        for c in 0..<ev { target[c] = 0 }
                        lse[index] = -T.infinity
                    } else {
                        let inverse = 1 / rowSum[r]
                        for c in 0..<ev { target[c] = acc[c] * inverse }
                        lse[index] = rowMax[r] + T.log(rowSum[r])
                    }
                }
            }
        }
    }

    /// Inputs (q, k, v, logsumexp, delta, gradOutput[, mask]); outputs (dQ, dK, dV), dense.
    static func backward<T: KernelFloat>(_ config: AttentionConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend, _: T.Type) {
        let batchShape = Array(outputs[0].shape.dropLast(2)), batch = ShapeMath.count(batchShape)
        let l = inputs[0].shape[inputs[0].rank - 2], e = inputs[0].shape.last!
        let s = inputs[1].shape[inputs[1].rank - 2], ev = inputs[2].shape.last!
        let q = operand(inputs[0], batchShape: batchShape, dense: true, backend: backend, T.self)
        let k = operand(inputs[1], batchShape: batchShape, dense: true, backend: backend, T.self)
        let v = operand(inputs[2], batchShape: batchShape, dense: true, backend: backend, T.self)
        let lseTensor = backend.contiguous(inputs[3]), deltaTensor = backend.contiguous(inputs[4])
        let gy = operand(inputs[5], batchShape: batchShape, dense: true, backend: backend, T.self)
        let (mask, booleanMask) = masks(config, config.hasMask ? inputs[6] : nil, batchShape: batchShape, backend: backend, T.self)
        let (dq, dk, dv) = (outputs[0].pointer(T.self), outputs[1].pointer(T.self), outputs[2].pointer(T.self))
        let lse = lseTensor.pointer(T.self), delta = deltaTensor.pointer(T.self)
        let scale = T(config.scale), causal = config.isCausal
        Parallel.forRange(batch, cost: max(1, l) * max(1, s) * (2 * e + 2 * ev)) { range in
            let scores = UnsafeMutablePointer<T>.allocate(capacity: keyBlock)
            let gradScores = UnsafeMutablePointer<T>.allocate(capacity: keyBlock)
            let kT = UnsafeMutablePointer<T>.allocate(capacity: max(1, e) * keyBlock)
            let vT = UnsafeMutablePointer<T>.allocate(capacity: max(1, ev) * keyBlock)
            defer { [scores, gradScores, kT, vT].forEach { $0.deallocate() } }
            for b in range {
                let dqBase = dq + b * l * e, dkBase = dk + b * s * e, dvBase = dv + b * s * ev
                for c in 0..<(l * e) { dqBase[c] = 0 }
                for c in 0..<(s * e) { dkBase[c] = 0 }
                for c in 0..<(s * ev) { dvBase[c] = 0 }
                for j0 in stride(from: 0, to: s, by: keyBlock) {
                    let count = min(keyBlock, s - j0)
                    transposeBlock(k, batch: b, j0: j0, count: count, width: e, into: kT)
                    transposeBlock(v, batch: b, j0: j0, count: count, width: ev, into: vT)
                    // Queries before the block's first key see none of it.
                    for i in (causal ? min(j0, l) : 0)..<l {
                        let rowLSE = lse[b * l + i]
                        if rowLSE == -T.infinity { continue }
                        let qRow = q.row(b, i), gyRow = gy.row(b, i)
                        scoreRow(scores, qRow, kT, e: e, count: count, scale: scale, mask: mask, booleanMask: booleanMask,
                                 batch: b, row: i, firstKey: j0, causal: causal)
                        expShifted(scores, count, shift: rowLSE)
                        // dP = dO vᵀ, then dS = P (dP - delta) · scale.
                        for j in 0..<count { gradScores[j] = 0 }
                        for c in 0..<ev {
                            let g = gyRow[c], column = vT + c * keyBlock
                            for j in 0..<count { gradScores[j] += g * column[j] }
                        }
                        let rowDelta = delta[b * l + i]
                        for j in 0..<count { gradScores[j] = scores[j] * (gradScores[j] - rowDelta) * scale }
                        let dqRow = dqBase + i * e
                        for j in 0..<count {
                            let p = scores[j], ds = gradScores[j]
                            if p == 0 && ds == 0 { continue }
                            let kRow = k.row(b, j0 + j), dkRow = dkBase + (j0 + j) * e, dvRow = dvBase + (j0 + j) * ev
                            for c in 0..<e { dqRow[c] += ds * kRow[c] }
                            for c in 0..<e { dkRow[c] += ds * qRow[c] }
                            for c in 0..<ev { dvRow[c] += p * gyRow[c] }
                        }
                    }
                }
            }
        }
    }
}
