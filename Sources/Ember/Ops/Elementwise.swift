/// Elementwise operations with NumPy broadcasting: their public API, shape and dtype
/// rules, and derivative rules.
enum Elementwise {
    // MARK: Shape and dtype rules

    static func needsFloatingPoint(_ op: UnaryOp) -> Bool {
        switch op {
        case .exp, .log, .sqrt, .rsqrt, .sin, .cos, .tanh, .sigmoid, .erf, .gelu: return true
        case .neg, .abs, .sign, .relu, .floor, .ceil, .round, .logicalNot: return false
        }
    }

    static func unarySpec(_ op: UnaryOp, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if needsFloatingPoint(op) && !x.dtype.isFloatingPoint {
            throw ShapeError("\(op)", "expected a floating-point tensor, got \(x.dtype); cast it first")
        }
        if x.dtype == .bool && op != .logicalNot {
            throw ShapeError("\(op)", "not defined for bool tensors")
        }
        return TensorSpec(x.shape, op == .logicalNot ? .bool : x.dtype)
    }

    static func broadcastShape(_ op: @autoclosure () -> String, _ inputs: [TensorSpec]) throws(ShapeError) -> [Int] {
        var shape = inputs[0].shape
        for input in inputs.dropFirst() {
            guard let s = ShapeMath.broadcast(shape, input.shape) else {
                throw ShapeError(op(), "shapes \(inputs.map(\.shape).map { "\($0)" }.joined(separator: " and ")) cannot be broadcast together")
            }
            shape = s
        }
        return shape
    }

    static func sameDType(_ op: @autoclosure () -> String, _ a: TensorSpec, _ b: TensorSpec) throws(ShapeError) {
        if a.dtype != b.dtype {
            throw ShapeError(op(), "operands must have one dtype, got \(a.dtype) and \(b.dtype)")
        }
    }

    static func binarySpec(_ op: BinaryOp, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        try sameDType("\(op)", inputs[0], inputs[1])
        let shape = try broadcastShape("\(op)", inputs)
        let logical = op == .logicalAnd || op == .logicalOr || op == .logicalXor
        if inputs[0].dtype == .bool && (op == .div || op == .pow) {
            throw ShapeError("\(op)", "not defined for bool tensors")
        }
        return TensorSpec(shape, logical ? .bool : inputs[0].dtype)
    }

    static func compareSpec(_ op: CompareOp, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        try sameDType("\(op)", inputs[0], inputs[1])
        return TensorSpec(try broadcastShape("\(op)", inputs), .bool)
    }

    static func selectSpec(_ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        if inputs[0].dtype != .bool {
            throw ShapeError("select", "the condition must be bool, got \(inputs[0].dtype)")
        }
        try sameDType("select", inputs[1], inputs[2])
        return TensorSpec(try broadcastShape("select", inputs), inputs[1].dtype)
    }

    static func castSpec(_ dtype: DType, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        TensorSpec(inputs[0].shape, dtype)
    }

    // MARK: Derivative rules

    static func unaryVJP(_ op: UnaryOp, _ x: Tensor, _ g: Tensor) -> Tensor? {
        switch op {
        case .neg: return -g
        case .abs: return g * x.sign()
        case .sign, .floor, .ceil, .round: return Tensor.zeros(x.shape, dtype: x.dtype)
        case .exp: return g * x.exp()
        case .log: return g / x
        case .sqrt: return g * 0.5 * x.rsqrt()
        case .rsqrt: return g * -0.5 * x.rsqrt() / x
        case .sin: return g * x.cos()
        case .cos: return -(g * x.sin())
        case .tanh:
            let t = x.tanh()
            return g * (1 - t * t)
        case .sigmoid:
            let s = x.sigmoid()
            return g * s * (1 - s)
        // Zero where x <= 0 even for a NaN gradient, as PyTorch's threshold_backward; one
        // select instead of a cast and a product.
        case .relu: return Tensor.where(x .> 0, g, Elementwise.scalar(0, like: g))
        // d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
        case .erf: return g * 1.1283791670955126 * (-(x * x)).exp()
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        case .gelu: return g * (0.5 * (1 + (x * 0.7071067811865476).erf()) + x * 0.3989422804014327 * (x * x * -0.5).exp())
        case .logicalNot: return nil
        }
    }

    static func binaryVJP(_ op: BinaryOp, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] {
        let a = inputs[0], b = inputs[1]
        func toA(_ t: @autoclosure () -> Tensor) -> Tensor? { needed[0] ? t().sum(toShape: a.shape) : nil }
        func toB(_ t: @autoclosure () -> Tensor) -> Tensor? { needed[1] ? t().sum(toShape: b.shape) : nil }
        switch op {
        case .add: return [toA(g), toB(g)]
        case .sub: return [toA(g), toB(-g)]
        case .mul: return [toA(g * b), toB(g * a)]
        case .div: return [toA(g / b), toB(-(g * a) / (b * b))]
        case .pow:
            // d/da a^b = b a^(b-1), taken as 0 where b == 0 (not 0 * 0^-1 = nan at a == 0), and
            // d/db a^b = a^b log(a), taken as 0 where a == 0 (the limit for b > 0), as PyTorch does.
            let zero = Tensor.scalar(0, dtype: a.dtype)
            let zeroBase = a .== zero
            let safeLog = Tensor.where(zeroBase, zero, a).log()
            return [toA(Tensor.where(b .== zero, zero, g * b * pow(a, b - 1))),
                    toB(Tensor.where(zeroBase, zero, g * pow(a, b) * safeLog))]
        case .maximum, .minimum:
            // Ties share the gradient equally, as in PyTorch.
            let wins = (op == .maximum ? a .> b : a .< b).cast(to: g.dtype)
            let ties = (a .== b).cast(to: g.dtype) * 0.5
            return [toA(g * (wins + ties)), toB(g * (1 - wins - ties))]
        case .logicalAnd, .logicalOr, .logicalXor: return [nil, nil]
        }
    }

    static func selectVJP(_ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        let zero = Tensor.scalar(0, dtype: g.dtype)
        return [nil, Tensor.where(inputs[0], g, zero).sum(toShape: inputs[1].shape),
                Tensor.where(inputs[0], zero, g).sum(toShape: inputs[2].shape)]
    }

    static func castVJP(_ x: Tensor, _ g: Tensor) -> Tensor? {
        x.dtype.isFloatingPoint ? g.cast(to: x.dtype) : nil
    }

    // MARK: Dispatch helpers

    @inline(__always)
    static func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        Dispatch.run1(.unary(op), [x])
    }

    @inline(__always)
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        if a.dtype == b.dtype { return Dispatch.run1(.binary(op), [a, b]) }
        let t = DType.promoted(a.dtype, b.dtype)
        return Dispatch.run1(.binary(op), [a.cast(to: t), b.cast(to: t)])
    }

    static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let t = DType.promoted(a.dtype, b.dtype)
        return Dispatch.run1(.compare(op), [a.cast(to: t), b.cast(to: t)])
    }

    /// A Swift number as a tensor that adopts `like`'s dtype (PyTorch's weak scalar typing);
    /// a fractional number with an integer tensor gives float32.
    static func scalar(_ value: Double, like: Tensor) -> Tensor {
        let dtype: DType = like.dtype.isFloatingPoint || value == value.rounded() ? (like.dtype == .bool ? .float32 : like.dtype) : .float32
        return Tensor.scalar(value, dtype: dtype, on: like.backend)
    }
}

// MARK: Forward mode and batching

extension Elementwise {
    /// The partial derivatives of each elementwise binary operation, as in its VJP rule.
    static func binaryJVP(_ op: BinaryOp, _ x: [Tensor], _ y: Tensor, _ t: [Tensor?]) -> Tensor? {
        let a = x[0], b = x[1]
        switch op {
        case .add: return Tangents.sum([t[0], t[1]], y.shape)
        case .sub: return Tangents.sum([t[0], t[1].map { -$0 }], y.shape)
        case .mul: return Tangents.sum([t[0].map { $0 * b }, t[1].map { a * $0 }], y.shape)
        case .div: return Tangents.sum([t[0].map { $0 / b }, t[1].map { -(a * $0) / (b * b) }], y.shape)
        case .pow:
            // 0 where b == 0 for the base, and where a == 0 for the exponent (see the VJP rule).
            let zero = Tensor.scalar(0, dtype: a.dtype)
            let da = t[0].map { Tensor.where(b .== zero, zero, $0 * b * pow(a, b - 1)) }
            let db = t[1].map { Tensor.where(a .== zero, zero, $0 * y * Tensor.where(a .== zero, zero, a).log()) }
            return Tangents.sum([da, db], y.shape)
        case .maximum, .minimum:
            // Ties take the mean of the two tangents, as the VJP rule shares the gradient.
            let wins = (op == .maximum ? a .> b : a .< b).cast(to: y.dtype)
            let share = wins + (a .== b).cast(to: y.dtype) * 0.5
            return Tangents.sum([t[0].map { $0 * share }, t[1].map { $0 * (1 - share) }], y.shape)
        case .logicalAnd, .logicalOr, .logicalXor: return nil
        }
    }

    static func selectJVP(_ x: [Tensor], _ y: Tensor, _ t: [Tensor?]) -> Tensor {
        let zero = Tensor.scalar(0, dtype: y.dtype)
        return Dispatch.run1(.select, [x[0], t[1] ?? zero, t[2] ?? zero]).expanded(to: y.shape)
    }
}


// MARK: - Public API

extension Tensor {
    public func neg() -> Tensor { Elementwise.unary(.neg, self) }
    public func abs() -> Tensor { Elementwise.unary(.abs, self) }
    public func sign() -> Tensor { Elementwise.unary(.sign, self) }
    public func exp() -> Tensor { Elementwise.unary(.exp, self) }
    public func log() -> Tensor { Elementwise.unary(.log, self) }
    public func sqrt() -> Tensor { Elementwise.unary(.sqrt, self) }
    public func rsqrt() -> Tensor { Elementwise.unary(.rsqrt, self) }
    public func sin() -> Tensor { Elementwise.unary(.sin, self) }
    public func cos() -> Tensor { Elementwise.unary(.cos, self) }
    public func tanh() -> Tensor { Elementwise.unary(.tanh, self) }
    public func sigmoid() -> Tensor { Elementwise.unary(.sigmoid, self) }
    public func relu() -> Tensor { Elementwise.unary(.relu, self) }
    public func erf() -> Tensor { Elementwise.unary(.erf, self) }
    public func floor() -> Tensor { Elementwise.unary(.floor, self) }
    public func ceil() -> Tensor { Elementwise.unary(.ceil, self) }
    /// Rounds half to even, as torch.round.
    public func rounded() -> Tensor { Elementwise.unary(.round, self) }
    public func logicalNot() -> Tensor { Elementwise.unary(.logicalNot, self) }
    public func square() -> Tensor { self * self }
    public func reciprocal() -> Tensor { 1 / self }

    /// GELU: x * Phi(x) exactly (with erf, one kernel), or its tanh approximation.
    public func gelu(approximate: Bool = false) -> Tensor {
        if approximate {
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            let inner = (self + 0.044715 * self * self * self) * 0.7978845608028654
            return 0.5 * self * (1 + inner.tanh())
        }
        return Elementwise.unary(.gelu, self)
    }

    /// x * sigmoid(x)
    public func silu() -> Tensor { self * sigmoid() }

    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor {
        Tensor.where(self .> 0, self, self * negativeSlope)
    }

    /// Limits values to [min, max]; either bound may be omitted. The gradient is 0 on a bound,
    /// as PyTorch's (so clamp(min: 0) has relu's gradient), not maximum's half for ties.
    public func clamp(min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
        var result = self
        if let lower {
            let bound = Elementwise.scalar(lower, like: self)
            result = Tensor.where(result .<= bound, bound, result)
        }
        if let upper {
            let bound = Elementwise.scalar(upper, like: self)
            result = Tensor.where(result .>= bound, bound, result)
        }
        return result
    }

    /// The same values in another dtype (the tensor itself when the dtype is unchanged).
    public func cast(to dtype: DType) -> Tensor {
        dtype == self.dtype ? self : Dispatch.run1(.cast(dtype), [self])
    }

    public func logicalAnd(_ other: Tensor) -> Tensor { Elementwise.binary(.logicalAnd, self, other) }
    public func logicalOr(_ other: Tensor) -> Tensor { Elementwise.binary(.logicalOr, self, other) }
    public func logicalXor(_ other: Tensor) -> Tensor { Elementwise.binary(.logicalXor, self, other) }

    /// Elements of `a` where `condition` is true, of `b` elsewhere (broadcast together).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let t = DType.promoted(a.dtype, b.dtype)
        return Dispatch.run1(.select, [condition.cast(to: .bool), a.cast(to: t), b.cast(to: t)])
    }
}

/// The elementwise larger of `a` and `b`, broadcast (`torch.maximum`; NaN if either is NaN).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Elementwise.binary(.maximum, a, b) }
/// The elementwise smaller of `a` and `b`, broadcast (`torch.minimum`; NaN if either is NaN).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Elementwise.binary(.minimum, a, b) }
/// `a` raised elementwise to the power `b`, broadcast.
public func pow(_ a: Tensor, _ b: Tensor) -> Tensor { Elementwise.binary(.pow, a, b) }
/// `a` raised elementwise to the power `b`.
public func pow(_ a: Tensor, _ b: Double) -> Tensor { Elementwise.binary(.pow, a, Elementwise.scalar(b, like: a)) }

// MARK: - ONNX mappings

extension Elementwise {
    static func unaryONNX(_ op: UnaryOp, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        let a = x.names[0], dtype = x.inputs[0].dtype
        func node(_ name: String, _ input: String) -> String { b.node(name, [input], [], outputs: 1)[0] }
        switch op {
        case .neg: return node("Neg", a)
        case .abs: return node("Abs", a)
        case .sign: return node("Sign", a)
        case .exp: return node("Exp", a)
        case .log: return node("Log", a)
        case .sqrt: return node("Sqrt", a)
        case .rsqrt: return node("Reciprocal", node("Sqrt", a))
        case .sin: return node("Sin", a)
        case .cos: return node("Cos", a)
        case .tanh: return node("Tanh", a)
        case .sigmoid: return node("Sigmoid", a)
        case .relu: return node("Relu", a)
        case .erf: return node("Erf", a)
        case .gelu:
            // Exact (erf) GELU: native from opset 20, else x · (1 + erf(x/√2)) / 2 as torch.onnx writes it.
            if b.opset >= 20 { return node("Gelu", a) }
            let scaled = b.node("Div", [a, b.scalar(2.0.squareRoot(), dtype)], [], outputs: 1)[0]
            let onePlus = b.node("Add", [node("Erf", scaled), b.scalar(1, dtype)], [], outputs: 1)[0]
            let product = b.node("Mul", [a, onePlus], [], outputs: 1)[0]
            return b.node("Mul", [product, b.scalar(0.5, dtype)], [], outputs: 1)[0]
        // Integers are their own floor, ceiling and rounding.
        case .floor: return dtype.isFloatingPoint ? node("Floor", a) : node("Identity", a)
        case .ceil: return dtype.isFloatingPoint ? node("Ceil", a) : node("Identity", a)
        // Both round half to even.
        case .round: return dtype.isFloatingPoint ? node("Round", a) : node("Identity", a)
        case .logicalNot: return node("Not", a)
        }
    }

    static func binaryONNX(_ op: BinaryOp, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        func node(_ name: String, _ inputs: [String]) -> String { b.node(name, inputs, [], outputs: 1)[0] }
        switch op {
        case .add: return node("Add", x.names)
        case .sub: return node("Sub", x.names)
        case .mul: return node("Mul", x.names)
        case .div:
            guard !x.inputs[0].dtype.isFloatingPoint else { return node("Div", x.names) }
            // Ember divides integers with floor (Python's //), ONNX truncates: (a - a mod b) / b
            // is exact, with Mod's sign following the divisor as Python's.
            let remainder = b.node("Mod", x.names, [ONNXAttribute("fmod", .int(0))], outputs: 1)[0]
            return node("Div", [node("Sub", [x.names[0], remainder]), x.names[1]])
        case .pow: return node("Pow", x.names)
        case .maximum: return node("Max", x.names)
        case .minimum: return node("Min", x.names)
        case .logicalAnd: return node("And", x.names)
        case .logicalOr: return node("Or", x.names)
        case .logicalXor: return node("Xor", x.names)
        }
    }

    static func compareONNX(_ op: CompareOp, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        func node(_ name: String, _ inputs: [String]) -> String { b.node(name, inputs, [], outputs: 1)[0] }
        switch op {
        case .equal: return node("Equal", x.names)
        case .notEqual: return node("Not", [node("Equal", x.names)])
        case .less: return node("Less", x.names)
        case .lessEqual: return node("LessOrEqual", x.names)
        case .greater: return node("Greater", x.names)
        case .greaterEqual: return node("GreaterOrEqual", x.names)
        }
    }
}
