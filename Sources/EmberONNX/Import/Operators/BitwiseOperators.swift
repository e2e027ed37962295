import Ember

/// Bitwise operators on integers (opset 18) and BitCast (opset 26). Ember has no bitwise
/// kernels: And, Or and Xor combine the operands bit by bit in int64 arithmetic (bit i of x
/// is floor(x / 2^i) mod 2, two's complement included), in the declared type's width.
enum ONNXBitwiseOperators {
    static let all: [ONNXOperator] = [
        binary("BitwiseAnd") { a, b in a * b },
        binary("BitwiseOr") { a, b in a + b - a * b },
        binary("BitwiseXor") { a, b in a + b - a * b * 2 },
        ONNXOperator("BitwiseNot", since: 18) { context in
            let x = try context.input(0)
            let type = try width(context, x)
            let value = x.cast(to: .int64)
            // Signed: -x - 1; unsigned: (2^bits - 1) - x.
            let y = type.signed ? value.neg() - 1 : Tensor.full([], Double((1 << type.bits) - 1), dtype: .int64) - value
            return [y.cast(to: x.dtype)]
        },
        ONNXOperator("BitCast", since: 26) { context in [try bitCast(context)] },
    ]

    private static func width(_ context: ONNXNodeContext, _ x: Tensor, input: Int = 0) throws -> (bits: Int, signed: Bool) {
        guard !x.dtype.isFloatingPoint, x.dtype != .bool else { throw context.fail("takes integers, got \(x.dtype)") }
        let type = ONNXElementwiseOperators.integerType(context.inputElementType(input), x.dtype)
        guard type.bits < 64 else { throw context.fail("64-bit operands are not supported (bits are combined in int64 arithmetic)") }
        return type
    }

    /// `f` on each pair of bits (0 or 1), the results weighted back into a number.
    private static func binary(_ name: String, _ f: @escaping (Tensor, Tensor) -> Tensor) -> ONNXOperator {
        ONNXOperator(name, since: 18) { context in
            let a = try context.input(0), b = try context.input(1)
            let type = try width(context, a)
            let x = a.cast(to: .int64), y = b.cast(to: .int64)
            var result = Tensor.zeros([], dtype: .int64)
            for bit in 0..<type.bits {
                let power = Tensor.full([], Double(1 << bit), dtype: .int64)
                let twice = Tensor.full([], Double(1 << (bit + 1)), dtype: .int64)
                func digit(_ v: Tensor) -> Tensor { v.floorDivided(by: power) - v.floorDivided(by: twice) * 2 }
                // The top bit of a signed type weighs -2^(bits - 1).
                let weight = Double(type.signed && bit == type.bits - 1 ? -(1 << bit) : 1 << bit)
                result = result + f(digit(x), digit(y)) * weight
            }
            return [result.cast(to: DType.promoted(a.dtype, b.dtype))]
        }
    }

    /// The same bits read as another type of the same width.
    private static func bitCast(_ context: ONNXNodeContext) throws -> Tensor {
        let x = try context.input(0)
        let to = Int32(try context.int("to"))
        guard let target = ONNXElementType.dtype(to) else { throw context.fail("cannot cast to \(ONNXElementType.name(to)), which Ember does not hold") }
        let source = context.inputElementType(0)
        typealias T = Onnx_TensorProto.DataType
        func code(_ type: T) -> Int32 { Int32(type.rawValue) }
        // Integers that Ember widens: the same bits under the other signedness.
        let pairs: [(Int32, Int32, bits: Int)] = [(code(.int8), code(.uint8), 8), (code(.int16), code(.uint16), 16), (code(.int32), code(.uint32), 32)]
        if let source, let pair = pairs.first(where: { [$0.0, $0.1].contains(source) && [$0.0, $0.1].contains(to) }) {
            let value = x.cast(to: .int64), modulus = Double(1 << pair.bits)
            let y = to == pair.0
                ? Tensor.where(value .>= modulus / 2, value - modulus, value)
                : Tensor.where(value .< 0, value + modulus, value)
            return y.cast(to: target)
        }
        if source == code(.bool) && (to == code(.uint8) || to == code(.int8)) { return x.cast(to: target) }
        // Types Ember holds at their own width: the bytes themselves (values must be known).
        let native: Set<Int32> = [code(.float), code(.double), code(.float16), code(.bfloat16), code(.int32), code(.int64)]
        guard let source, native.contains(source), native.contains(to), target.byteSize == x.dtype.byteSize else {
            throw context.fail("cannot reinterpret \(source.map(ONNXElementType.name) ?? "\(x.dtype)") as \(ONNXElementType.name(to))")
        }
        guard !x.isAbstract else { throw context.fail("reinterprets bytes, which needs known values (not a traced graph input)") }
        let dense = noGrad { x.contiguous() }
        var bytes = [UInt8](repeating: 0, count: dense.count * dense.dtype.byteSize)
        bytes.withUnsafeMutableBytes { dense.backend.download(dense, into: $0) }
        let y = Tensor(uninitializedShape: x.shape, dtype: target)
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { y.baseAddress.copyMemory(from: base, byteCount: raw.count) }
        }
        return y
    }
}
