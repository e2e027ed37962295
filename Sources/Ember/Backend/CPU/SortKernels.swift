/// Sorting along an axis of a dense tensor viewed as [outer, n, inner].
enum SortKernels {
    static func argsort(_ x: Tensor, axis: Int, descending: Bool, _ out: Tensor) {
        switch x.dtype {
        case .float32: argsortTyped(x, axis, descending, out, Float.self)
        case .float64: argsortTyped(x, axis, descending, out, Double.self)
        case .float16: argsortTyped(x, axis, descending, out, Float16.self)
        case .bfloat16: preconditionFailure("argsort: bfloat16 is sorted as float32")
        case .int32: argsortTyped(x, axis, descending, out, Int32.self)
        case .int64: argsortTyped(x, axis, descending, out, Int64.self)
        case .bool: preconditionFailure("argsort: bool is sorted as an integer type")
        }
    }

    private static func argsortTyped<T: Comparable>(_ x: Tensor, _ axis: Int, _ descending: Bool, _ out: Tensor, _: T.Type) {
        let n = x.shape[axis]
        let inner = ShapeMath.count(Array(x.shape[(axis + 1)...]))
        let outer = n == 0 ? 0 : x.count / (n * inner)
        let values = x.pointer(T.self), indices = out.pointer(Int64.self)
        Parallel.forRange(outer * inner, cost: n * 8) { range in
            var order = [Int](repeating: 0, count: n)
            for line in range {
                let base = (line / inner) * n * inner + line % inner
                for i in 0..<n { order[i] = i }
                // Ties keep their order (the index decides); NaN (x != x) sorts as the largest.
                order.sort { i, j in
                    let a = values[base + i * inner], b = values[base + j * inner]
                    let aNaN = a != a, bNaN = b != b
                    if aNaN != bNaN { return descending ? aNaN : bNaN }
                    if aNaN || a == b { return i < j }
                    return descending ? a > b : a < b
                }
                for i in 0..<n { indices[base + i * inner] = Int64(order[i]) }
            }
        }
    }
}
