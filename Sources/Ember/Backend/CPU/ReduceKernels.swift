/// Reductions. The input is viewed as [outer, reduced, inner] (after a dense permuted copy
/// when the reduced axes are not one contiguous block), so every case is either a sum of
/// contiguous rows or an accumulation of contiguous rows into the output.
enum ReduceKernels {
    struct Blocks {
        var outer: Int
        var reduced: Int
        var inner: Int
        var input: Tensor
    }

    /// A dense tensor and its [outer, reduced, inner] sizes for reducing `axes` of `x`.
    static func blocks(_ x: Tensor, axes: [Int], backend: CPUBackend) -> Blocks {
        let sorted = axes.sorted()
        if sorted.isEmpty {
            return Blocks(outer: x.count, reduced: 1, inner: 1, input: backend.contiguous(x))
        }
        if x.isContiguous && sorted.last! - sorted.first! == sorted.count - 1 {
            return Blocks(outer: ShapeMath.count(Array(x.shape[..<sorted.first!])),
                          reduced: ShapeMath.count(Array(x.shape[sorted.first!...sorted.last!])),
                          inner: ShapeMath.count(Array(x.shape[(sorted.last! + 1)...])), input: x)
        }
        let kept = (0..<x.rank).filter { !sorted.contains($0) }
        let permuted = x.sameLayout(shape: (kept + sorted).map { x.shape[$0] }, strides: (kept + sorted).map { x.strides[$0] })
        let dense = backend.contiguous(permuted)
        return Blocks(outer: ShapeMath.count(kept.map { x.shape[$0] }),
                      reduced: ShapeMath.count(sorted.map { x.shape[$0] }), inner: 1, input: dense)
    }

    /// Running sums along `axis` of a dense tensor viewed as [outer, n, inner].
    static func cumsum(_ x: Tensor, axis: Int, reverse: Bool, _ out: Tensor) {
        switch x.dtype {
        case .float32: cumsumTyped(x, axis, reverse, out, Float.self)
        case .float64: cumsumTyped(x, axis, reverse, out, Double.self)
        case .int64: cumsumTyped(x, axis, reverse, out, Int64.self)
        case .bool, .int32, .float16, .bfloat16: preconditionFailure("cumsum: \(x.dtype) is computed in another dtype")
        }
    }

    private static func cumsumTyped<T: Numeric>(_ x: Tensor, _ axis: Int, _ reverse: Bool, _ out: Tensor, _: T.Type) {
        let n = x.shape[axis]
        let inner = ShapeMath.count(Array(x.shape[(axis + 1)...]))
        let outer = n == 0 ? 0 : x.count / (n * inner)
        let source = x.pointer(T.self), target = out.pointer(T.self)
        Parallel.forRange(outer, cost: n * inner) { range in
            for o in range {
                let base = o * n * inner
                for j in 0..<inner { target[base + (reverse ? (n - 1) * inner : 0) + j] = source[base + (reverse ? (n - 1) * inner : 0) + j] }
                for step in 1..<Swift.max(n, 1) {
                    let i = reverse ? n - 1 - step : step, previous = reverse ? i + 1 : i - 1
                    for j in 0..<inner { target[base + i * inner + j] = target[base + previous * inner + j] + source[base + i * inner + j] }
                }
            }
        }
    }

    static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], _ out: Tensor, backend: CPUBackend) {
        let b = blocks(x, axes: axes, backend: backend)
        switch x.dtype {
        case .float32: reduceTyped(op, b, out, Float.self)
        case .float64: reduceTyped(op, b, out, Double.self)
        case .int32: reduceTyped(op, b, out, Int32.self)
        case .int64: reduceTyped(op, b, out, Int64.self)
        case .bool, .float16, .bfloat16: preconditionFailure("reduce: \(x.dtype) is computed in another dtype")
        }
    }

    private static func reduceTyped<T: Numeric & Comparable>(_ op: ReduceOp, _ b: Blocks, _ out: Tensor, _: T.Type) {
        switch op {
        case .sum: run(b, out, Sum<T>.self, identity: 0)
        case .prod: run(b, out, Product<T>.self, identity: 1)
        case .max: run(b, out, Maximum<T>.self, identity: nil)
        case .min: run(b, out, Minimum<T>.self, identity: nil)
        }
    }

    /// How a reduction folds an element into an accumulator. A type rather than a closure:
    /// the loops run inside the parallel pool's callback, where a captured closure would be
    /// an indirect call per element (measured 17x slower on a column sum).
    protocol Combiner {
        associatedtype Element
        static func combine(_ accumulator: Element, _ element: Element) -> Element
    }

    enum Sum<T: Numeric>: Combiner {
        @inline(__always) static func combine(_ a: T, _ b: T) -> T { a + b }
    }

    enum Product<T: Numeric>: Combiner {
        @inline(__always) static func combine(_ a: T, _ b: T) -> T { a * b }
    }

    /// NaN wins, as in PyTorch.
    enum Maximum<T: Comparable>: Combiner {
        @inline(__always) static func combine(_ a: T, _ b: T) -> T { b > a || b != b ? b : a }
    }

    enum Minimum<T: Comparable>: Combiner {
        @inline(__always) static func combine(_ a: T, _ b: T) -> T { b < a || b != b ? b : a }
    }

    /// `identity` starts empty reductions (max and min of nothing are an error, caught by
    /// the shape rule).
    @inline(__always)
    private static func run<C: Combiner>(_ b: Blocks, _ out: Tensor, _: C.Type, identity: C.Element?) {
        typealias T = C.Element
        let x = UnsafePointer(b.input.pointer(T.self))
        let o = out.pointer(T.self)
        let (outer, reduced, inner) = (b.outer, b.reduced, b.inner)
        if reduced == 0 {
            for i in 0..<(outer * inner) { o[i] = identity! }
            return
        }
        if inner == 1 {
            if outer == 1 {
                o[0] = foldSplit(x, reduced, C.self)
                return
            }
            Parallel.forRange(outer, cost: reduced) { rows in
                for row in rows { o[row] = fold(x + row * reduced, reduced, C.self) }
            }
            return
        }
        Parallel.forRange(outer * inner, cost: reduced) { range in
            // Each piece covers whole or partial output rows of length `inner`.
            var i = range.lowerBound
            while i < range.upperBound {
                let row = i / inner, column = i % inner
                let length = min(inner - column, range.upperBound - i)
                let src = x + row * reduced * inner + column
                let dst = o + i
                for k in 0..<length { dst[k] = src[k] }
                for r in 1..<reduced {
                    let line = src + r * inner
                    for k in 0..<length { dst[k] = C.combine(dst[k], line[k]) }
                }
                i += length
            }
        }
    }

    /// Folds a contiguous row with eight independent accumulators, which lets the compiler
    /// vectorize and keeps float sums more accurate than one running total.
    @inline(__always)
    private static func fold<C: Combiner>(_ x: UnsafePointer<C.Element>, _ n: Int, _: C.Type) -> C.Element {
        if n < 16 {
            var acc = x[0]
            for i in 1..<n { acc = C.combine(acc, x[i]) }
            return acc
        }
        var a0 = x[0], a1 = x[1], a2 = x[2], a3 = x[3], a4 = x[4], a5 = x[5], a6 = x[6], a7 = x[7]
        var i = 8
        while i + 8 <= n {
            a0 = C.combine(a0, x[i]); a1 = C.combine(a1, x[i + 1]); a2 = C.combine(a2, x[i + 2]); a3 = C.combine(a3, x[i + 3])
            a4 = C.combine(a4, x[i + 4]); a5 = C.combine(a5, x[i + 5]); a6 = C.combine(a6, x[i + 6]); a7 = C.combine(a7, x[i + 7])
            i += 8
        }
        var acc = C.combine(C.combine(C.combine(a0, a1), C.combine(a2, a3)), C.combine(C.combine(a4, a5), C.combine(a6, a7)))
        while i < n {
            acc = C.combine(acc, x[i])
            i += 1
        }
        return acc
    }

    /// A whole-tensor fold split across threads, partial results combined in order.
    @inline(__always)
    private static func foldSplit<C: Combiner>(_ x: UnsafePointer<C.Element>, _ n: Int, _: C.Type) -> C.Element {
        let pieces = min(Parallel.coreCount, max(1, n / Parallel.grain))
        if pieces == 1 { return fold(x, n, C.self) }
        var partial = [C.Element?](repeating: nil, count: pieces)
        partial.withUnsafeMutableBufferPointer { slots in
            Parallel.forRange(pieces, cost: Parallel.grain) { range in
                for p in range {
                    let start = n * p / pieces, end = n * (p + 1) / pieces
                    slots[p] = fold(x + start, end - start, C.self)
                }
            }
        }
        return partial.dropFirst().reduce(partial[0]!) { C.combine($0, $1!) }
    }

    static func argReduce(_ op: ArgReduceOp, _ x: Tensor, axis: Int, _ out: Tensor, backend: CPUBackend) {
        let b = blocks(x, axes: [axis], backend: backend)
        func run<T: Comparable>(_: T.Type) {
            let p = UnsafePointer(b.input.pointer(T.self))
            let o = out.pointer(Int64.self)
            Parallel.forRange(b.outer * b.inner, cost: b.reduced) { range in
                for i in range {
                    let row = i / b.inner, column = i % b.inner
                    let src = p + row * b.reduced * b.inner + column
                    var best = src[0], bestIndex = 0
                    for r in 1..<max(b.reduced, 1) {
                        let v = src[r * b.inner]
                        // The first extreme wins; NaN counts as the extreme, as in PyTorch.
                        let better = op == .argmax ? (v > best || (v != v && best == best)) : (v < best || (v != v && best == best))
                        if better {
                            best = v
                            bestIndex = r
                        }
                    }
                    o[i] = Int64(bestIndex)
                }
            }
        }
        switch x.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: run(Int32.self)
        case .int64: run(Int64.self)
        case .bool: run(UInt8.self)
        case .float16, .bfloat16: preconditionFailure("argReduce: half types are computed in float32")
        }
    }
}
