/// Gather and scatter along an axis. Indices are int32 or int64 and checked against the
/// axis length before any element moves; an index out of range is a programming error that
/// names the operation (caught by `catchingOperationErrors`, where the kernel does nothing).
enum IndexingKernels {
    /// Whether every index lies in 0..<size, checked on the calling thread before the
    /// (possibly parallel) loops; the first one outside is reported.
    static func validIndices(_ index: Tensor, _ size: Int, _ op: String) -> Bool {
        guard index.count > 0 else { return true }
        let loop = StridedLoop(shape: index.shape, strides: [index.strides])
        var bad: Int?
        loop.serialRows { off, n in
            guard bad == nil else { return }
            let stride = loop.rowStride(0)
            for i in 0..<n {
                let j = readIndex(index, off[0] + i * stride)
                if j < 0 || j >= size { bad = j; return }
            }
        }
        guard let bad else { return true }
        OperationErrorTrap.report("\(op): index \(bad) is out of range for an axis of size \(size) (valid: 0..<\(size))")
        return false
    }

    @inline(__always)
    static func readIndex(_ index: Tensor, _ offset: Int) -> Int {
        index.dtype == .int64 ? Int(index.pointer(Int64.self)[offset]) : Int(index.pointer(Int32.self)[offset])
    }

    @inline(__always)
    static func checked(_ i: Int, _ size: Int, _ op: String) -> Int {
        // In every build: an index from data must never read or write outside the tensor.
        if i < 0 || i >= size { fatalError("\(op): index \(i) is out of range for an axis of size \(size) (valid: 0..<\(size))") }
        return i
    }

    /// out[p] = x[p with axis replaced by index[p]] for every position p of index.
    static func gather(_ x: Tensor, _ index: Tensor, axis: Int, _ out: Tensor) {
        // x's layout over index's shape, with the gathered axis contributing only through the index.
        var baseStrides = x.strides
        baseStrides[axis] = 0
        let base = x.sameLayout(shape: index.shape, strides: baseStrides)
        let axisStride = x.strides[axis], size = x.shape[axis]
        guard validIndices(index, size, "gather") else { return }
        func run<T>(_: T.Type) {
            ElementwiseKernels.rows(out, [index, base]) { off, n, loop in
                let o = out.pointer(T.self) + off[0], xp = base.pointer(T.self) + off[2]
                let si = loop.rowStride(1), sx = loop.rowStride(2)
                for i in 0..<n {
                    let j = checked(readIndex(index, off[1] + i * si), size, "gather")
                    o[i] = xp[i * sx + j * axisStride]
                }
            }
        }
        // Any bit pattern of the right width moves an element.
        switch x.dtype.byteSize {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    /// base with src[p] added at position p with axis replaced by index[p].
    static func scatterAdd(_ base: Tensor, _ index: Tensor, _ src: Tensor, axis: Int, _ out: Tensor, backend: CPUBackend) {
        ElementwiseKernels.copy(base, out)
        var targetStrides = out.strides
        targetStrides[axis] = 0
        let target = out.sameLayout(shape: index.shape, strides: targetStrides)
        let axisStride = out.strides[axis], size = out.shape[axis]
        guard validIndices(index, size, "scatter_add") else { return }
        // Runs serially: two positions may add into the same element.
        let srcView = src.sameLayout(shape: index.shape)
        let loop = StridedLoop(shape: index.shape, strides: [target.strides, index.strides, srcView.strides])
        func run<T: Numeric>(_: T.Type) {
            let o = out.pointer(T.self), s = srcView.pointer(T.self)
            loop.serialRows { off, n in
                for i in 0..<n {
                    let j = checked(readIndex(index, off[1] + i * loop.rowStride(1)), size, "scatter_add")
                    o[off[0] + i * loop.rowStride(0) + j * axisStride] += s[off[2] + i * loop.rowStride(2)]
                }
            }
        }
        switch out.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: run(Int32.self)
        case .int64: run(Int64.self)
        case .bool, .float16, .bfloat16: preconditionFailure("\(out.dtype) accumulation is computed in another dtype")
        }
    }

    /// x viewed as [outer, n, inner]: out[o, j, :] = x[o, index[j], :].
    static func indexSelect(_ x: Tensor, _ index: Tensor, axis: Int, _ out: Tensor, backend: CPUBackend) {
        let dense = backend.contiguous(x)
        let outer = ShapeMath.count(Array(x.shape[..<axis])), n = x.shape[axis]
        let inner = ShapeMath.count(Array(x.shape[(axis + 1)...]))
        let picks = index.count
        guard validIndices(index, n, "index_select") else { return }
        let indices = (0..<picks).map { checked(readIndex(index, $0 * (index.strides.first ?? 1)), n, "index_select") }
        let bytes = inner * x.dtype.byteSize
        let src = dense.baseAddress, dst = out.baseAddress
        Parallel.forRange(outer * picks, cost: inner) { range in
            for k in range {
                let o = k / picks, j = k % picks
                (dst + k * bytes).copyMemory(from: src + (o * n + indices[j]) * bytes, byteCount: bytes)
            }
        }
    }

    /// base viewed as [outer, n, inner]: out[o, index[j], :] += src[o, j, :].
    static func indexAdd(_ base: Tensor, _ index: Tensor, _ src: Tensor, axis: Int, _ out: Tensor, backend: CPUBackend) {
        ElementwiseKernels.copy(base, out)
        let dense = backend.contiguous(src)
        let outer = ShapeMath.count(Array(out.shape[..<axis])), n = out.shape[axis]
        let inner = ShapeMath.count(Array(out.shape[(axis + 1)...]))
        let picks = index.count
        guard validIndices(index, n, "index_add") else { return }
        let indices = (0..<picks).map { checked(readIndex(index, $0 * (index.strides.first ?? 1)), n, "index_add") }
        func run<T: Numeric>(_: T.Type) {
            let s = dense.pointer(T.self), o = out.pointer(T.self)
            // Parallel over outer slices only: within one, two picks may hit the same row.
            Parallel.forRange(outer, cost: picks * inner) { range in
                for outerIndex in range {
                    for j in 0..<picks {
                        let from = s + (outerIndex * picks + j) * inner
                        let to = o + (outerIndex * n + indices[j]) * inner
                        for i in 0..<inner { to[i] += from[i] }
                    }
                }
            }
        }
        switch out.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: run(Int32.self)
        case .int64: run(Int64.self)
        case .bool, .float16, .bfloat16: preconditionFailure("\(out.dtype) accumulation is computed in another dtype")
        }
    }
}
