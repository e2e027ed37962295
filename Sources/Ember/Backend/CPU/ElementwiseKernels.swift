import CEmberVectorMath

/// Elementwise kernels: one tight loop per row, the operation chosen once per row,
/// contiguous and broadcast-scalar rows special-cased so the compiler vectorizes them.
enum ElementwiseKernels {
    // MARK: Loops

    @inline(__always)
    static func map<A, O>(_ a: UnsafePointer<A>, _ sa: Int, _ o: UnsafeMutablePointer<O>, _ n: Int, _ f: (A) -> O) {
        if sa == 1 {
            for i in 0..<n { o[i] = f(a[i]) }
        } else {
            for i in 0..<n { o[i] = f(a[i &* sa]) }
        }
    }

    @inline(__always)
    static func zip<A, B, O>(_ a: UnsafePointer<A>, _ sa: Int, _ b: UnsafePointer<B>, _ sb: Int,
                             _ o: UnsafeMutablePointer<O>, _ n: Int, _ f: (A, B) -> O) {
        if sa == 1 && sb == 1 {
            for i in 0..<n { o[i] = f(a[i], b[i]) }
        } else if sa == 1 && sb == 0 {
            let bv = b[0]
            for i in 0..<n { o[i] = f(a[i], bv) }
        } else if sa == 0 && sb == 1 {
            let av = a[0]
            for i in 0..<n { o[i] = f(av, b[i]) }
        } else {
            for i in 0..<n { o[i] = f(a[i &* sa], b[i &* sb]) }
        }
    }

    /// The element stride of each operand along the row being processed (0 for broadcast).
    struct RowStrides {
        let strides: UnsafePointer<Int>
        @inline(__always) func rowStride(_ operand: Int) -> Int { strides[operand] }
    }

    /// Runs `body` over rows of the output and of the inputs broadcast to its shape, in the
    /// output's memory order. Only `copy` accepts an output that is a view; the other
    /// kernels write dense outputs, row-major or in another axis order (channels-last).
    @inline(__always)
    static func rows(_ output: Tensor, _ inputs: [Tensor], cost: Int = 1,
                     _ body: (_ offsets: UnsafePointer<Int>, _ length: Int, _ loop: RowStrides) -> Void) {
        let operands = inputs.count + 1
        // Fast path, and the common case: dense operands of the output's size, or single
        // elements broadcast everywhere, make one flat row with no index arithmetic.
        let n = output.count
        if output.isContiguous && inputs.allSatisfy({ ($0.count == n && $0.isContiguous && $0.rank == output.rank) || $0.count == 1 }) {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { strides in
                strides[0] = 1
                for (k, input) in inputs.enumerated() { strides[k + 1] = input.count == n ? 1 : 0 }
                let rowStrides = RowStrides(strides: UnsafePointer(strides.baseAddress!))
                Parallel.forRange(n, cost: cost) { range in
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { offsets in
                        for k in 0..<operands { offsets[k] = range.lowerBound * strides[k] }
                        body(UnsafePointer(offsets.baseAddress!), range.count, rowStrides)
                    }
                }
            }
            return
        }
        var strides = [output.strides]
        for input in inputs { strides.append(StridedLoop.broadcastStrides(input, to: output.shape)) }
        let loop = StridedLoop.inOutputOrder(shape: output.shape, strides: strides)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { rowStrides in
            for k in 0..<operands { rowStrides[k] = loop.rowStride(k) }
            let info = RowStrides(strides: UnsafePointer(rowStrides.baseAddress!))
            loop.run(cost: cost) { offsets, length in body(offsets, length, info) }
        }
    }

    // MARK: Unary

    static func unary(_ op: UnaryOp, _ x: Tensor, _ out: Tensor) {
        switch x.dtype {
        case .float32: unaryFloat(op, x, out, Float.self)
        case .float64: unaryFloat(op, x, out, Double.self)
        case .int32: unaryInteger(op, x, out, Int32.self)
        case .int64: unaryInteger(op, x, out, Int64.self)
        case .bool:
            precondition(op == .logicalNot, "\(op): not defined for bool")
            rows(out, [x]) { off, n, loop in
                map(x.pointer(Bool.self) + off[1], loop.rowStride(1), out.pointer(Bool.self) + off[0], n) { !$0 }
            }
        case .float16, .bfloat16: preconditionFailure("half types are computed in float32")
        }
    }

    static func unaryFloat<T: KernelFloat>(_ op: UnaryOp, _ x: Tensor, _ out: Tensor, _: T.Type) {
        if op == .gelu && T.self == Float.self && x.isContiguous && out.isContiguous && x.count > 0 {
            return OneDNNEltwise.geluForward(x, out)
        }
        let cost = (op == .neg || op == .abs || op == .relu) ? 1 : 8
        rows(out, [x], cost: cost) { off, n, loop in
            let a = UnsafePointer(x.pointer(T.self) + off[1])
            let sa = loop.rowStride(1)
            let o = out.pointer(T.self) + off[0]
            if T.self == Float.self && sa == 1, let function = VectorMath.function(op) {
                return VectorMath.apply(function, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                                        UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self), n)
            }
            switch op {
            case .neg: map(a, sa, o, n) { -$0 }
            case .abs: map(a, sa, o, n) { Swift.abs($0) }
            case .sign: map(a, sa, o, n) { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
            case .exp: map(a, sa, o, n) { T.exp($0) }
            case .log: map(a, sa, o, n) { T.log($0) }
            case .sqrt: map(a, sa, o, n) { T.sqrt($0) }
            case .rsqrt: map(a, sa, o, n) { 1 / T.sqrt($0) }
            case .sin: map(a, sa, o, n) { T.sin($0) }
            case .cos: map(a, sa, o, n) { T.cos($0) }
            case .tanh: map(a, sa, o, n) { T.tanh($0) }
            // Both branches avoid overflow of exp for large |x|.
            case .sigmoid: map(a, sa, o, n) { $0 >= 0 ? 1 / (1 + T.exp(-$0)) : T.exp($0) / (1 + T.exp($0)) }
            case .relu: map(a, sa, o, n) { $0 > 0 ? $0 : 0 }
            case .erf: map(a, sa, o, n) { T.erf($0) }
            case .gelu: map(a, sa, o, n) { 0.5 * $0 * (1 + T.erf($0 * 0.7071067811865476)) }
            case .floor: map(a, sa, o, n) { $0.rounded(.down) }
            case .ceil: map(a, sa, o, n) { $0.rounded(.up) }
            case .round: map(a, sa, o, n) { $0.rounded(.toNearestOrEven) }
            case .logicalNot: map(a, sa, out.pointer(Bool.self) + off[0], n) { $0 == 0 }
            }
        }
    }

    static func unaryInteger<T: FixedWidthInteger & SignedInteger>(_ op: UnaryOp, _ x: Tensor, _ out: Tensor, _: T.Type) {
        rows(out, [x]) { off, n, loop in
            let a = UnsafePointer(x.pointer(T.self) + off[1])
            let sa = loop.rowStride(1)
            let o = out.pointer(T.self) + off[0]
            switch op {
            case .neg: map(a, sa, o, n) { 0 &- $0 }
            case .abs: map(a, sa, o, n) { $0 < 0 ? 0 &- $0 : $0 }
            case .sign: map(a, sa, o, n) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
            case .relu: map(a, sa, o, n) { $0 > 0 ? $0 : 0 }
            case .floor, .ceil, .round: map(a, sa, o, n) { $0 }
            case .logicalNot: map(a, sa, out.pointer(Bool.self) + off[0], n) { $0 == 0 }
            case .exp, .log, .sqrt, .rsqrt, .sin, .cos, .tanh, .sigmoid, .erf, .gelu:
                preconditionFailure("\(op): not defined for integer tensors")
            }
        }
    }

    // MARK: Binary

    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
        switch a.dtype {
        case .float32: binaryFloat(op, a, b, out, Float.self)
        case .float64: binaryFloat(op, a, b, out, Double.self)
        case .int32: binaryInteger(op, a, b, out, Int32.self)
        case .int64: binaryInteger(op, a, b, out, Int64.self)
        case .bool:
            rows(out, [a, b]) { off, n, loop in
                let pa = UnsafePointer(a.pointer(Bool.self) + off[1]), pb = UnsafePointer(b.pointer(Bool.self) + off[2])
                let sa = loop.rowStride(1), sb = loop.rowStride(2)
                let o = out.pointer(Bool.self) + off[0]
                switch op {
                case .logicalAnd, .mul, .minimum: zip(pa, sa, pb, sb, o, n) { $0 && $1 }
                case .logicalOr, .add, .maximum: zip(pa, sa, pb, sb, o, n) { $0 || $1 }
                case .logicalXor, .sub: zip(pa, sa, pb, sb, o, n) { $0 != $1 }
                case .div, .pow: preconditionFailure("\(op): not defined for bool tensors")
                }
            }
        case .float16, .bfloat16: preconditionFailure("half types are computed in float32")
        }
    }

    static func binaryFloat<T: KernelFloat>(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type) {
        let vectorFunction = T.self == Float.self ? vectorBinary(op) : nil
        rows(out, [a, b], cost: op == .pow ? 8 : 1) { off, n, loop in
            let pa = UnsafePointer(a.pointer(T.self) + off[1]), pb = UnsafePointer(b.pointer(T.self) + off[2])
            let sa = loop.rowStride(1), sb = loop.rowStride(2)
            let o = out.pointer(T.self) + off[0]
            if let vectorFunction, sa == 0 || sa == 1, sb == 0 || sb == 1 {
                return ember_vector_binary(vectorFunction, UnsafeRawPointer(pa).assumingMemoryBound(to: Float.self), sa,
                                           UnsafeRawPointer(pb).assumingMemoryBound(to: Float.self), sb,
                                           UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self), n)
            }
            switch op {
            case .add: zip(pa, sa, pb, sb, o, n) { $0 + $1 }
            case .sub: zip(pa, sa, pb, sb, o, n) { $0 - $1 }
            case .mul: zip(pa, sa, pb, sb, o, n) { $0 * $1 }
            case .div: zip(pa, sa, pb, sb, o, n) { $0 / $1 }
            case .pow: zip(pa, sa, pb, sb, o, n) { T.pow($0, $1) }
            // NaN propagates, as in PyTorch.
            case .maximum: zip(pa, sa, pb, sb, o, n) { $0.isNaN || $0 > $1 ? $0 : $1 }
            case .minimum: zip(pa, sa, pb, sb, o, n) { $0.isNaN || $0 < $1 ? $0 : $1 }
            case .logicalAnd: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { $0 != 0 && $1 != 0 }
            case .logicalOr: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { $0 != 0 || $1 != 0 }
            case .logicalXor: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { ($0 != 0) != ($1 != 0) }
            }
        }
    }

    /// The dispatched float32 loop for an arithmetic operation (Sources/CEmberVectorMath).
    static func vectorBinary(_ op: BinaryOp) -> EmberBinaryFunction? {
        switch op {
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .maximum: return .maximum
        case .minimum: return .minimum
        case .pow, .logicalAnd, .logicalOr, .logicalXor: return nil
        }
    }

    /// Whether no element of `b` is zero, checked on the calling thread before an integer
    /// division's (possibly parallel) loop; a zero is reported as the division's failure.
    private static func nonzeroDivisors<T: FixedWidthInteger>(_ b: Tensor, _: T.Type) -> Bool {
        guard b.count > 0 else { return true }
        var zero = false
        let p = b.pointer(T.self)
        let loop = StridedLoop(shape: b.shape, strides: [b.strides])
        loop.serialRows { off, n in
            let stride = loop.rowStride(0)
            for i in 0..<n where p[off[0] + i * stride] == 0 { zero = true }
        }
        if zero { OperationErrorTrap.report("div: integer division by zero") }
        return !zero
    }

    static func binaryInteger<T: FixedWidthInteger & SignedInteger>(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type) {
        if op == .div && !nonzeroDivisors(b, T.self) { return }
        rows(out, [a, b]) { off, n, loop in
            let pa = UnsafePointer(a.pointer(T.self) + off[1]), pb = UnsafePointer(b.pointer(T.self) + off[2])
            let sa = loop.rowStride(1), sb = loop.rowStride(2)
            let o = out.pointer(T.self) + off[0]
            switch op {
            case .add: zip(pa, sa, pb, sb, o, n) { $0 &+ $1 }
            case .sub: zip(pa, sa, pb, sb, o, n) { $0 &- $1 }
            case .mul: zip(pa, sa, pb, sb, o, n) { $0 &* $1 }
            // Floor division, as Python's // and torch.div(rounding_mode="floor").
            case .div: zip(pa, sa, pb, sb, o, n) { x, y in
                precondition(y != 0, "div: integer division by zero")  // checked before the loop
                let q = x / y
                return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q
            }
            case .pow: zip(pa, sa, pb, sb, o, n) { x, y in
                var result: T = 1, base = x, e = y
                if e < 0 { return x == 1 ? 1 : (x == -1 ? (e & 1 == 0 ? 1 : -1) : 0) }
                while e > 0 {
                    if e & 1 == 1 { result = result &* base }
                    base = base &* base
                    e >>= 1
                }
                return result
            }
            case .maximum: zip(pa, sa, pb, sb, o, n) { Swift.max($0, $1) }
            case .minimum: zip(pa, sa, pb, sb, o, n) { Swift.min($0, $1) }
            case .logicalAnd: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { $0 != 0 && $1 != 0 }
            case .logicalOr: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { $0 != 0 || $1 != 0 }
            case .logicalXor: zip(pa, sa, pb, sb, out.pointer(Bool.self) + off[0], n) { ($0 != 0) != ($1 != 0) }
            }
        }
    }

    // MARK: Compare and select

    static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
        func run<T: Comparable>(_: T.Type) {
            rows(out, [a, b]) { off, n, loop in
                let pa = UnsafePointer(a.pointer(T.self) + off[1]), pb = UnsafePointer(b.pointer(T.self) + off[2])
                let sa = loop.rowStride(1), sb = loop.rowStride(2)
                let o = out.pointer(Bool.self) + off[0]
                switch op {
                case .equal: zip(pa, sa, pb, sb, o, n) { $0 == $1 }
                case .notEqual: zip(pa, sa, pb, sb, o, n) { $0 != $1 }
                case .less: zip(pa, sa, pb, sb, o, n) { $0 < $1 }
                case .lessEqual: zip(pa, sa, pb, sb, o, n) { $0 <= $1 }
                case .greater: zip(pa, sa, pb, sb, o, n) { $0 > $1 }
                case .greaterEqual: zip(pa, sa, pb, sb, o, n) { $0 >= $1 }
                }
            }
        }
        switch a.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: run(Int32.self)
        case .int64: run(Int64.self)
        case .bool: run(UInt8.self)
        case .float16, .bfloat16: preconditionFailure("half types are computed in float32")
        }
    }

    static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
        func run<T>(_: T.Type) {
            rows(out, [condition, a, b]) { off, n, loop in
                let c = condition.pointer(Bool.self) + off[1]
                let pa = a.pointer(T.self) + off[2], pb = b.pointer(T.self) + off[3]
                let sc = loop.rowStride(1), sa = loop.rowStride(2), sb = loop.rowStride(3)
                let o = out.pointer(T.self) + off[0]
                // Dense rows choosing from a dense row or a scalar (a masked gradient) get
                // loops without strides, the flags read as bytes: the dispatched C loop for
                // 32-bit elements, which a float32 ReLU's gradient is; loops the compiler
                // vectorizes for the others (reading Bools, it assembled each mask bit by bit).
                let flags = UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self)
                if T.self == UInt32.self && sc == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1) {
                    return ember_vector_select32(flags, UnsafeRawPointer(pa).assumingMemoryBound(to: UInt32.self), sa,
                                                 UnsafeRawPointer(pb).assumingMemoryBound(to: UInt32.self), sb,
                                                 UnsafeMutableRawPointer(o).assumingMemoryBound(to: UInt32.self), n)
                }
                if sc == 1 && sa == 1 && sb == 1 {
                    for i in 0..<n { o[i] = flags[i] != 0 ? pa[i] : pb[i] }
                } else if sc == 1 && sa == 1 && sb == 0 {
                    let b = pb[0]
                    for i in 0..<n { o[i] = flags[i] != 0 ? pa[i] : b }
                } else if sc == 1 && sa == 0 && sb == 1 {
                    let a = pa[0]
                    for i in 0..<n { o[i] = flags[i] != 0 ? a : pb[i] }
                } else {
                    for i in 0..<n { o[i] = c[i &* sc] ? pa[i &* sa] : pb[i &* sb] }
                }
            }
        }
        switch a.dtype.byteSize {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    // MARK: Cast, copy, fill

    static func cast(_ x: Tensor, _ out: Tensor) {
        if x.dtype == out.dtype { return copy(x, out) }
        // Autocast's casts, float32 <-> bfloat16, as bit operations that vectorize (the
        // generic path goes through Double, element by element).
        if x.dtype == .float32 && out.dtype == .bfloat16 {
            return rows(out, [x]) { off, n, loop in
                map(UnsafePointer(x.pointer(Float.self) + off[1]), loop.rowStride(1), out.pointer(UInt16.self) + off[0], n) {
                    BFloat16($0).bitPattern
                }
            }
        }
        if x.dtype == .bfloat16 && out.dtype == .float32 {
            return rows(out, [x]) { off, n, loop in
                map(UnsafePointer(x.pointer(UInt16.self) + off[1]), loop.rowStride(1), out.pointer(Float.self) + off[0], n) {
                    Float(bitPattern: UInt32($0) << 16)
                }
            }
        }
        withElementType(x.dtype) { source in
            withElementType(out.dtype) { target in
                castTyped(x, out, source, target)
            }
        }
    }

    private static func castTyped<S: KernelElement, D: KernelElement>(_ x: Tensor, _ out: Tensor, _: S.Type, _: D.Type) {
        rows(out, [x]) { off, n, loop in
            map(UnsafePointer(x.pointer(S.self) + off[1]), loop.rowStride(1), out.pointer(D.self) + off[0], n) {
                D(kernelDouble: $0.kernelDouble)
            }
        }
    }

    /// Copies the elements of `x` into `out` of the same shape, any layouts (bit-exact).
    static func copy(_ x: Tensor, _ out: Tensor) {
        func run<T>(_: T.Type) {
            if transposedCopy(x, out, T.self) { return }
            rows(out, [x]) { off, n, loop in
                let source = UnsafePointer(x.pointer(T.self) + off[1]), target = out.pointer(T.self) + off[0]
                let sx = loop.rowStride(1), so = loop.rowStride(0)
                // The output is a slice of a larger tensor for pad and concat; its rows are
                // strided when its last axes have size 1 (a column of [n, 2], say).
                if so == 1 {
                    map(source, sx, target, n) { $0 }
                } else {
                    for i in 0..<n { target[i &* so] = source[i &* sx] }
                }
            }
        }
        switch x.dtype.byteSize {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    /// A dense copy that reads the source across its unit-stride axis (a transpose).
    /// Walking the output row by row would touch a new cache line per element, so the
    /// copy goes in 32x32 tiles. Returns false when the layouts are not of that kind.
    private static func transposedCopy<T>(_ x: Tensor, _ out: Tensor, _: T.Type) -> Bool {
        guard out.isContiguous, x.count >= 4096 else { return false }
        let loop = StridedLoop(shape: out.shape, strides: [out.strides, x.strides])
        let rank = loop.shape.count
        guard rank >= 2, loop.strides[1][rank - 1] != 1,
              let axis = (0..<(rank - 1)).first(where: { loop.strides[1][$0] == 1 }) else { return false }
        let tile = 32
        let rows = loop.shape[axis], columns = loop.shape[rank - 1], rowTiles = (rows + tile - 1) / tile
        let outerAxes = (0..<(rank - 1)).filter { $0 != axis }
        let outerCount = outerAxes.reduce(1) { $0 * loop.shape[$1] }
        let xs = loop.strides[1], os = loop.strides[0], columnStride = xs[rank - 1]
        let src = UnsafePointer(x.pointer(T.self)), dst = out.pointer(T.self)
        Parallel.forRange(outerCount * rowTiles, cost: tile * columns) { range in
            for item in range {
                var rest = item / rowTiles
                var xOffset = 0, outOffset = 0
                for a in outerAxes.reversed() {
                    let index = rest % loop.shape[a]
                    rest /= loop.shape[a]
                    xOffset += index * xs[a]
                    outOffset += index * os[a]
                }
                let i0 = (item % rowTiles) * tile, i1 = Swift.min(i0 + tile, rows)
                var k0 = 0
                while k0 < columns {
                    let k1 = Swift.min(k0 + tile, columns)
                    for i in i0..<i1 {
                        let target = dst + outOffset + i * os[axis], source = src + xOffset + i
                        for k in k0..<k1 { target[k] = source[k &* columnStride] }
                    }
                    k0 = k1
                }
            }
        }
        return true
    }

    static func fill(_ out: Tensor, _ value: Double) {
        withElementType(out.dtype) { type in fillTyped(out, type.init(kernelDouble: value)) }
    }

    private static func fillTyped<T: KernelElement>(_ out: Tensor, _ value: T) {
        let p = out.pointer(T.self)
        Parallel.forRange(out.count) { range in
            for i in range { p[i] = value }
        }
    }
}
