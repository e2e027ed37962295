import Ember

/// Elementwise, comparison, logical and activation operators. Binary ones broadcast as
/// NumPy does, which is ONNX's multidirectional broadcasting.
enum ONNXElementwiseOperators {
    static let all: [ONNXOperator] = unary + binary + activations + [
        ONNXOperator("Identity") { [try $0.input(0)] },
        ONNXOperator("Cast", since: 6) { context in
            let x = try context.input(0)
            return [try cast(x, code: Int32(context.int("to")), context)]
        },
        ONNXOperator("CastLike", since: 15) { context in
            let x = try context.input(0), like = try context.input(1)
            // The target's ONNX type is known when it is declared (graph inputs, initializers);
            // else its Ember dtype stands for it.
            guard let code = context.inputElementType(1) else { return [x.cast(to: like.dtype)] }
            return [try cast(x, code: code, context)]
        },
        ONNXOperator("Where", since: 9) { context in
            [Tensor.where(try context.input(0), try context.input(1), try context.input(2))]
        },
        ONNXOperator("Clip", since: 6) { context in
            [try context.input(0).clamp(min: context.has("min") ? context.float("min", 0) : nil,
                                        max: context.has("max") ? context.float("max", 0) : nil)]
        },
        ONNXOperator("Clip", since: 11) { context in
            let x = try context.input(0)
            var y = x
            if let low = context.optionalInput(1) { y = Tensor.where(y .< low, low.cast(to: x.dtype), y) }
            if let high = context.optionalInput(2) { y = Tensor.where(y .> high, high.cast(to: x.dtype), y) }
            return [y]
        },
        variadic("Sum") { $0 + $1 },
        variadic("Max") { Ember.maximum($0, $1) },
        variadic("Min") { Ember.minimum($0, $1) },
        ONNXOperator("Mean", since: 6) { context in
            let inputs = context.presentInputs
            guard let first = inputs.first else { throw context.fail("needs at least one input") }
            return [inputs.dropFirst().reduce(first, +) / Double(inputs.count)]
        },
    ]

    static func cast(_ x: Tensor, code: Int32, _ context: ONNXNodeContext) throws -> Tensor {
        if let narrow = ONNXNarrowType(code: code) {
            let mode = context.string("round_mode", "up")
            guard let rounding = ONNXNarrowType.E8M0Rounding(rawValue: mode) else {
                throw context.fail("round_mode '\(mode)' is not up, down or nearest")
            }
            return narrow.cast(x, saturate: context.int("saturate", 1) != 0, roundMode: rounding)
        }
        guard let dtype = ONNXElementType.dtype(code) else {
            throw context.fail("cannot cast to \(ONNXElementType.name(code)), which Ember does not hold")
        }
        if dtype == .bool && x.dtype != .bool { return x .!= 0 }
        return x.cast(to: dtype)
    }

    /// Bits and signedness of an ONNX integer type (Ember holds 8- and 16-bit ones as int32).
    static func integerType(_ code: Int32?, _ dtype: DType) -> (bits: Int, signed: Bool) {
        switch code.flatMap({ Onnx_TensorProto.DataType(rawValue: Int($0)) }) {
        case .int8?: return (8, true)
        case .uint8?: return (8, false)
        case .int16?: return (16, true)
        case .uint16?: return (16, false)
        case .uint32?: return (32, false)
        default: return dtype == .int64 ? (64, true) : (32, true)
        }
    }

    /// x << y or x >> y in the type's width: left shifts wrap around, right shifts of signed
    /// values are arithmetic; shifts by a negative amount or by the width or more give 0 (-1
    /// for a negative value shifted right), as ONNX defines them.
    static func shift(_ x: Tensor, by y: Tensor, left: Bool, type: (bits: Int, signed: Bool)) -> Tensor {
        let value = x.cast(to: .int64), amount = y.cast(to: .int64)
        let valid = (amount .>= 0).logicalAnd(amount .< Double(Swift.min(type.bits, 63)))
        let zero = Tensor.zeros([], dtype: .int64)
        let factor = pow(Tensor.full([], 2, dtype: .int64), Tensor.where(valid, amount, zero))
        var shifted: Tensor
        if left {
            shifted = value * factor
            if type.bits < 64 {
                // Keep the low bits: reduce modulo 2^bits into the type's range.
                let modulus = Tensor.full([], Double(1 << type.bits), dtype: .int64)
                let offset = type.signed ? Tensor.full([], Double(1 << (type.bits - 1)), dtype: .int64) : zero
                shifted = shifted - (shifted + offset).floorDivided(by: modulus) * modulus
            }
            shifted = Tensor.where(valid, shifted, zero)
        } else {
            let fill = type.signed ? Tensor.where(value .< 0, Tensor.full([], -1, dtype: .int64), zero) : zero
            shifted = Tensor.where(valid, value.floorDivided(by: factor), fill)
        }
        return shifted.cast(to: x.dtype)
    }

    private static func map(_ name: String, since version: Int = 6, _ f: @escaping (Tensor) -> Tensor) -> ONNXOperator {
        ONNXOperator(name, since: version) { [f(try $0.input(0))] }
    }

    private static func zip(_ name: String, since version: Int = 7, _ f: @escaping (Tensor, Tensor) -> Tensor) -> ONNXOperator {
        ONNXOperator(name, since: version) { [f(try $0.input(0), try $0.input(1))] }
    }

    private static func variadic(_ name: String, _ f: @escaping (Tensor, Tensor) -> Tensor) -> ONNXOperator {
        ONNXOperator(name, since: 6) { context in
            let inputs = context.presentInputs
            guard let first = inputs.first else { throw context.fail("needs at least one input") }
            return [inputs.dropFirst().reduce(first, f)]
        }
    }

    static let unary: [ONNXOperator] = [
        map("Abs") { $0.abs() }, map("Neg") { $0.neg() }, map("Exp") { $0.exp() }, map("Log") { $0.log() },
        map("Sqrt") { $0.sqrt() }, map("Reciprocal") { $0.reciprocal() }, map("Sin", since: 7) { $0.sin() },
        map("Cos", since: 7) { $0.cos() }, map("Tan", since: 7) { $0.sin() / $0.cos() }, map("Tanh") { $0.tanh() },
        map("Sinh", since: 9) { ($0.exp() - $0.neg().exp()) * 0.5 }, map("Cosh", since: 9) { ($0.exp() + $0.neg().exp()) * 0.5 },
        map("Asinh", since: 9) { ($0 + ($0 * $0 + 1).sqrt()).log() }, map("Acosh", since: 9) { ($0 + ($0 * $0 - 1).sqrt()).log() },
        map("Atanh", since: 9) { ((1 + $0) / (1 - $0)).log() * 0.5 },
        map("Sigmoid") { $0.sigmoid() }, map("Relu") { $0.relu() }, map("Erf", since: 9) { $0.erf() },
        map("Floor") { $0.floor() }, map("Ceil") { $0.ceil() }, map("Round", since: 11) { $0.rounded() },
        map("Sign", since: 9) { $0.sign() }, map("Not", since: 1) { $0.logicalNot() },
        map("IsNaN", since: 9) { $0 .!= $0 },
        ONNXOperator("IsInf", since: 10) { context in
            let x = try context.input(0)
            let positive = context.int("detect_positive", 1) != 0, negative = context.int("detect_negative", 1) != 0
            var mask = Tensor.zeros(x.shape, dtype: .bool)
            if positive { mask = mask.logicalOr(x .== Double.infinity) }
            if negative { mask = mask.logicalOr(x .== -Double.infinity) }
            return [mask]
        },
    ]

    static let binary: [ONNXOperator] = [
        zip("Add") { $0 + $1 }, zip("Sub") { $0 - $1 }, zip("Mul") { $0 * $1 },
        zip("Div") { a, b in
            // ONNX integer division truncates toward zero (C's, not Python's floor).
            if a.dtype.isFloatingPoint || b.dtype.isFloatingPoint { return a / b }
            return (a.cast(to: .float64) / b.cast(to: .float64)).cast(to: DType.promoted(a.dtype, b.dtype))
        },
        zip("Pow") { a, b in Ember.pow(a, b).cast(to: a.dtype) },
        zip("Equal") { $0 .== $1 }, zip("Less", since: 9) { $0 .< $1 }, zip("Greater", since: 9) { $0 .> $1 },
        zip("LessOrEqual", since: 12) { $0 .<= $1 }, zip("GreaterOrEqual", since: 12) { $0 .>= $1 },
        zip("And") { $0.logicalAnd($1) }, zip("Or") { $0.logicalOr($1) }, zip("Xor") { $0.logicalXor($1) },
        ONNXOperator("BitShift", since: 11) { context in
            let x = try context.input(0), y = try context.input(1)
            guard !x.dtype.isFloatingPoint, !y.dtype.isFloatingPoint else { throw context.fail("shifts integers, got \(x.dtype) and \(y.dtype)") }
            let left: Bool
            switch context.string("direction", "") {
            case "LEFT": left = true
            case "RIGHT": left = false
            case let direction: throw context.fail("direction '\(direction)' is not LEFT or RIGHT")
            }
            return [shift(x, by: y, left: left, type: integerType(context.inputElementType(0), x.dtype))]
        },
        ONNXOperator("Mod", since: 10) { context in
            let a = try context.input(0), b = try context.input(1)
            if context.int("fmod", 0) != 0 {
                // C's fmod: the remainder has the dividend's sign.
                let quotient = (a.cast(to: .float64) / b.cast(to: .float64))
                let truncated = Tensor.where(quotient .< 0, quotient.ceil(), quotient.floor())
                return [(a.cast(to: .float64) - truncated * b.cast(to: .float64)).cast(to: a.dtype)]
            }
            // Python's %: the remainder has the divisor's sign.
            return [a - a.floorDivided(by: b) * b]
        },
    ]

    static let activations: [ONNXOperator] = [
        ONNXOperator("LeakyRelu", since: 6) { context in [try context.input(0).leakyRelu(negativeSlope: context.float("alpha", 0.01))] },
        ONNXOperator("PRelu", since: 7) { context in
            let x = try context.input(0), slope = try context.input(1)
            return [Tensor.where(x .< 0, x * slope, x)]
        },
        ONNXOperator("Elu", since: 6) { context in
            let x = try context.input(0), alpha = context.float("alpha", 1)
            return [Tensor.where(x .> 0, x, (x.exp() - 1) * alpha)]
        },
        ONNXOperator("Celu", since: 12) { context in
            let x = try context.input(0), alpha = context.float("alpha", 1)
            return [x.relu() + ((x / alpha).exp() - 1).clamp(max: 0) * alpha]
        },
        ONNXOperator("Selu", since: 6) { context in
            let x = try context.input(0)
            let alpha = context.float("alpha", 1.67326319217681884765625), gamma = context.float("gamma", 1.05070102214813232421875)
            return [Tensor.where(x .> 0, x, (x.exp() - 1) * alpha) * gamma]
        },
        ONNXOperator("ThresholdedRelu", since: 10) { context in
            let x = try context.input(0)
            return [Tensor.where(x .> context.float("alpha", 1), x, Tensor.zeros(like: x))]
        },
        ONNXOperator("HardSigmoid", since: 6) { context in
            let x = try context.input(0)
            return [(x * context.float("alpha", 0.2) + context.float("beta", 0.5)).clamp(min: 0, max: 1)]
        },
        ONNXOperator("HardSwish", since: 14) { context in
            let x = try context.input(0)
            return [x * (x / 6 + 0.5).clamp(min: 0, max: 1)]
        },
        map("Softplus", since: 1) { x in
            // log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
            x.relu() + (x.abs().neg().exp() + 1).log()
        },
        map("Softsign", since: 1) { $0 / ($0.abs() + 1) },
        ONNXOperator("Swish", since: 24) { context in
            let x = try context.input(0)
            return [x * (x * context.float("alpha", 1)).sigmoid()]
        },
        ONNXOperator("Shrink", since: 9) { context in
            let x = try context.input(0), lambda = context.float("lambd", 0.5), bias = context.float("bias", 0)
            let zero = Tensor.zeros(like: x)
            return [Tensor.where(x .< -lambda, x + bias, Tensor.where(x .> lambda, x - bias, zero)).cast(to: x.dtype)]
        },
        map("Mish", since: 18) { x in x * (x.relu() + (x.abs().neg().exp() + 1).log()).tanh() },
        ONNXOperator("Gelu", since: 20) { context in
            [try context.input(0).gelu(approximate: context.string("approximate", "none") == "tanh")]
        },
    ]
}
