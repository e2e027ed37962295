import COneDNN

/// Batched, broadcasting matrix products: oneDNN's matmul for float32 and bfloat16 (f32
/// accumulation; the CPU backend sends bfloat16 here only where the CPU has native bf16
/// instructions), a Swift loop for float64 (oneDNN has no float64) and for float32 products
/// too small to repay oneDNN's call and thread start-up (a few microseconds; small models
/// are dominated by it).
enum MatmulKernel {
    /// A matrix operand as oneDNN can read it: [batch, rows, columns] with explicit strides,
    /// either rows or columns unit-strided (plain or transposed), batch stride uniform.
    struct Operand {
        var tensor: Tensor
        var dims: [Int]
        var strides: [Int]
    }

    static func matmul(_ a: Tensor, _ b: Tensor, _ out: Tensor, backend: CPUBackend) {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let batchShape = Array(out.shape.dropLast(2))
        let bHasBatch = ShapeMath.count(Array(b.shape.dropLast(2))) > 1

        let left: Operand, right: Operand
        let onOneDNN = !runsInSwift(a.dtype, multiplyAdds: ShapeMath.count(batchShape) * m * k * n)
        if onOneDNN, bHasBatch, let strided = stridedOperands(a, b, batchShape: batchShape) {
            // Views such as attention's heads ([batch, length, heads, width] read as
            // [batch, heads, length, width]) go to oneDNN with all their axes, uncopied.
            execute(strided.left, strided.right, out: out, outDims: strided.outDims, a: a, b: b)
            return
        }
        if !bHasBatch, let folded = foldRows(a, m: m, k: k) {
            // [batch..., m, k] @ [k, n] is one [batch*m, k] @ [k, n] product.
            left = folded
            right = matrixOperand(b, batchShape: [], backend: backend)
        } else {
            left = matrixOperand(a, batchShape: batchShape, backend: backend)
            right = matrixOperand(b, batchShape: batchShape, backend: backend)
        }
        if !onOneDNN {
            if a.dtype == .float64 {
                reference(left, right, out, batch: left.dims[0], m: left.dims[1], k: k, n: n, Double.self)
            } else {
                reference(left, right, out, batch: left.dims[0], m: left.dims[1], k: k, n: n, Float.self)
            }
            return
        }
        execute(left, right, out: out, outDims: [left.dims[0], left.dims[1], n], a: a, b: b)
    }

    /// One oneDNN matmul of two operands of equal rank into the dense `out` seen as `outDims`.
    private static func execute(_ left: Operand, _ right: Operand, out: Tensor, outDims: [Int], a: Tensor, b: Tensor) {
        let key = "matmul \(a.dtype) \(left.dims) \(left.strides) \(right.dims) \(right.strides) -> \(out.dtype)"
        let args = [Int32(DNNL_ARG_SRC), Int32(DNNL_ARG_WEIGHTS), Int32(DNNL_ARG_DST)]
        let dnn = OneDNN.shared
        let entry = dnn.entry(key, arguments: args) {
            var src = OneDNN.memoryDesc(left.dims, left.strides, a.dtype)
            var weights = OneDNN.memoryDesc(right.dims, right.strides, b.dtype)
            var dst = OneDNN.denseDesc(outDims, out.dtype)
            var desc = dnnl_matmul_desc_t()
            OneDNN.check(dnnl_matmul_desc_init(&desc, &src, &weights, nil, &dst), "matmul descriptor \(key)")
            return dnn.primitiveDesc(&desc, "matmul \(key)")
        }
        dnn.execute(entry, [args[0]: left.tensor, args[1]: right.tensor, args[2]: out])
    }

    /// `a` and `b` with their batch axes kept apart (size-1 axes dropped), when neither is
    /// broadcast, the batch axes of one of them do not merge into one stride (where both
    /// merge, the [batch, rows, columns] path reads them as they are) and oneDNN's optimized
    /// matmul reads such strides on this CPU.
    static func stridedOperands(_ a: Tensor, _ b: Tensor, batchShape: [Int]) -> (left: Operand, right: Operand, outDims: [Int])? {
        guard batchShape.filter({ $0 > 1 }).count >= 2, readsStridedBatches,
              let left = fullBatchOperand(a, batchShape: batchShape), let right = fullBatchOperand(b, batchShape: batchShape),
              !mergesBatch(a, batchShape) || !mergesBatch(b, batchShape) else { return nil }
        let kept = batchShape.filter { $0 > 1 }
        return (left, right, kept + [a.shape[a.rank - 2], b.shape[b.rank - 1]])
    }

    /// `x` as [batch axes of size > 1..., rows, columns] with its own strides, when it spans
    /// the whole batch and its matrices are plain or transposed.
    private static func fullBatchOperand(_ x: Tensor, batchShape: [Int]) -> Operand? {
        guard Array(x.shape.dropLast(2)) == batchShape else { return nil }
        let r = x.shape[x.rank - 2], c = x.shape[x.rank - 1]
        let rs = x.strides[x.rank - 2], cs = x.strides[x.rank - 1]
        let matrixStrides: [Int]
        if (cs == 1 || c == 1) && (rs >= c || r == 1) {
            matrixStrides = [r == 1 ? c : rs, 1]
        } else if (rs == 1 || r == 1) && (cs >= r || c == 1) {
            matrixStrides = [1, c == 1 ? r : cs]
        } else {
            return nil
        }
        let batchAxes = batchShape.indices.filter { batchShape[$0] > 1 }
        guard batchAxes.allSatisfy({ x.strides[$0] > 0 }) else { return nil }
        return Operand(tensor: x, dims: batchAxes.map { batchShape[$0] } + [r, c],
                       strides: batchAxes.map { x.strides[$0] } + matrixStrides)
    }

    private static func mergesBatch(_ x: Tensor, _ batchShape: [Int]) -> Bool {
        StridedLoop(shape: batchShape, strides: [Array(x.strides.dropLast(2))]).shape.count <= 1
    }

    /// Whether oneDNN's optimized matmul (not its reference loop) takes a batch of two
    /// strided axes on this CPU; probed once with a transposed-heads layout.
    static let readsStridedBatches: Bool = {
        let dims = [2, 3, 16, 16]
        var src = OneDNN.memoryDesc(dims, [3 * 16 * 16, 16, 3 * 16, 1])
        var weights = OneDNN.memoryDesc(dims, [3 * 16 * 16, 16, 1, 3 * 16])
        var dst = OneDNN.denseDesc(dims)
        var desc = dnnl_matmul_desc_t()
        OneDNN.check(dnnl_matmul_desc_init(&desc, &src, &weights, nil, &dst), "matmul descriptor (probe)")
        guard let pd = OneDNN.shared.primitiveDescIfImplemented(&desc, "matmul probe") else { return false }
        defer { dnnl_primitive_desc_destroy(pd) }
        var info: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success, let info else { return false }
        return !String(cString: info).hasPrefix("ref")
    }()

    /// `a` as one [1, batch*m, k] matrix, when its batch and row axes merge into one stride.
    static func foldRows(_ a: Tensor, m: Int, k: Int) -> Operand? {
        let rowStrides = Array(a.strides.dropLast())
        let rowShape = Array(a.shape.dropLast())
        let merged = StridedLoop(shape: rowShape, strides: [rowStrides])
        guard merged.shape.count == 1, a.strides.last! == 1 || k == 1 else { return nil }
        let rows = merged.shape[0]
        let rowStride = rows == 1 ? k : merged.strides[0][0]
        guard rowStride >= k else { return nil }
        return Operand(tensor: a, dims: [1, rows, k], strides: [rows * rowStride, rowStride, 1])
    }

    /// `x` broadcast to `batchShape` as [batch, rows, columns]; copied densely when its
    /// layout is not one oneDNN reads directly.
    static func matrixOperand(_ x: Tensor, batchShape: [Int], backend: CPUBackend) -> Operand {
        let r = x.shape[x.rank - 2], c = x.shape[x.rank - 1]
        let batch = ShapeMath.count(batchShape)
        let batchStrides = StridedLoop.broadcastStrides(
            x.sameLayout(shape: Array(x.shape.dropLast(2)), strides: Array(x.strides.dropLast(2))), to: batchShape)
        let merged = StridedLoop(shape: batchShape.isEmpty ? [1] : batchShape, strides: [batchStrides.isEmpty ? [0] : batchStrides])
        let rs = x.strides[x.rank - 2], cs = x.strides[x.rank - 1]
        let plain = (cs == 1 || c == 1) && (rs >= c || r == 1)
        let transposed = (rs == 1 || r == 1) && (cs >= r || c == 1)
        let batchStride = merged.shape.count == 1 ? (batch == 1 ? r * c : merged.strides[0][0]) : -1
        // The stride of a size-1 axis is free: it is set to what the plain layout expects.
        if batchStride > 0 && plain {
            return Operand(tensor: x, dims: [batch, r, c], strides: [batchStride, r == 1 ? c : rs, 1])
        }
        if batchStride > 0 && transposed {
            return Operand(tensor: x, dims: [batch, r, c], strides: [batchStride, 1, cs])
        }
        // Materialize the broadcast batch densely.
        let expanded = x.sameLayout(shape: batchShape + [r, c], strides: batchStrides + [rs, cs])
        let dense = backend.contiguous(expanded)
        return Operand(tensor: dense, dims: [batch, r, c], strides: [r * c, c, 1])
    }

    /// Multiply-adds below which the Swift loop beats a oneDNN call (measured on AVX-512).
    static let smallProductLimit = 32_768

    /// float64 (oneDNN has none) and small float32 products run in the Swift loop.
    static func runsInSwift(_ dtype: DType, multiplyAdds: Int) -> Bool {
        dtype == .float64 || (dtype == .float32 && multiplyAdds <= smallProductLimit)
    }

    static func reference<T: KernelFloat>(_ a: Operand, _ b: Operand, _ out: Tensor, batch: Int, m: Int, k: Int, n: Int, _: T.Type) {
        let pa = a.tensor.pointer(T.self), pb = b.tensor.pointer(T.self), po = out.pointer(T.self)
        let bBatchStride = b.dims[0] == 1 ? 0 : b.strides[0]
        Parallel.forRange(batch * m, cost: k * n) { range in
            for index in range {
                let bi = index / m, i = index % m
                let row = po + index * n
                for j in 0..<n { row[j] = 0 }
                let aRow = pa + bi * a.strides[0] + i * a.strides[1]
                let bMat = pb + bi * bBatchStride
                let columnStride = b.strides[2]
                for p in 0..<k {
                    let av = aRow[p * a.strides[2]]
                    let bRow = bMat + p * b.strides[1]
                    if columnStride == 1 {
                        for j in 0..<n { row[j] += av * bRow[j] }
                    } else {
                        for j in 0..<n { row[j] += av * bRow[j * columnStride] }
                    }
                }
            }
        }
    }
}
