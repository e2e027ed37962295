import Ember

/// Linear (de)quantization: y = saturate(round(x / scale) + zero_point) and its inverse,
/// per tensor, per axis or per block, and the integer operators built on it. Quantized
/// values are held widened (uint8 as int32, float8 as float32: `ONNXElementType`); the
/// arithmetic runs in float64, where every product of 8- and 16-bit values is exact.
enum ONNXQuantizationOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("DequantizeLinear", since: 10) { context in
            let x = try context.input(0)
            let scale = try context.input(1)
            let axis = context.int("axis", 1)
            let blockSize = context.int("block_size", 0)
            var y = x.cast(to: .float64)
            if let zeroPoint = context.optionalInput(2) {
                y = y - (try broadcast(zeroPoint, like: x, axis: axis, blockSize: blockSize, context)).cast(to: .float64)
            }
            y = y * (try broadcast(scale, like: x, axis: axis, blockSize: blockSize, context)).cast(to: .float64)
            let code = context.int("output_dtype", 0)
            return [y.cast(to: code == 0 ? scale.dtype : try dtype(Int32(code), context))]
        },
        ONNXOperator("QuantizeLinear", since: 10) { context in
            let x = try context.input(0)
            let axis = context.int("axis", 1)
            let blockSize = context.int("block_size", 0)
            let scale = try broadcast(try context.input(1), like: x, axis: axis, blockSize: blockSize, context)
            let zeroPoint = try context.optionalInput(2).map { try broadcast($0, like: x, axis: axis, blockSize: blockSize, context) }
            // The output type: output_dtype, else the zero point's, else uint8.
            let given = context.int("output_dtype", 0)
            let code = given != 0 ? Int32(given) : (context.inputElementType(2) ?? (zeroPoint == nil ? uint8 : nil))
            guard let code else { throw context.fail("the zero point's element type is not declared; give output_dtype") }
            return [try quantize(x, scale: scale, zeroPoint: zeroPoint, code: code, saturate: context.int("saturate", 1) != 0, context)]
        },
        ONNXOperator("DynamicQuantizeLinear", since: 11) { context in
            // uint8 with a range that includes 0: scale = (max - min) / 255, in float32 as
            // the reference computes it (x / scale rounds at the same ties).
            let x = try context.input(0).cast(to: .float32)
            let low = Ember.minimum(x.min(axes: Array(0..<x.rank), keepDims: false), Tensor.zeros([], dtype: .float32))
            let high = Ember.maximum(x.max(axes: Array(0..<x.rank), keepDims: false), Tensor.zeros([], dtype: .float32))
            let scale = (high - low) / 255
            let zeroPoint = (low.neg() / scale).rounded().clamp(min: 0, max: 255)
            let y = ((x / scale).rounded() + zeroPoint).clamp(min: 0, max: 255)
            return [y.cast(to: .int32), scale, zeroPoint.cast(to: .int32)]
        },
        ONNXOperator("QLinearMatMul", since: 10) { context in
            let a = try dequantize(context, value: 0, scale: 1, zeroPoint: 2)
            let b = try dequantize(context, value: 3, scale: 4, zeroPoint: 5)
            let code = context.inputElementType(7) ?? uint8
            let yScale = try context.input(6).cast(to: .float64)
            return [try quantize(matmul(a, b), scale: yScale, zeroPoint: try context.input(7), code: code, saturate: true, context)]
        },
        ONNXOperator("MatMulInteger", since: 10) { context in
            let a = try context.input(0).cast(to: .float64), b = try context.input(1).cast(to: .float64)
            // a's zero point is per row (its last-but-one axis), b's per column.
            let aZero = context.optionalInput(2).map { $0.rank == 1 && a.rank >= 2 ? $0.reshaped(to: [$0.count, 1]) : $0 }
            let bZero = context.optionalInput(3)
            let left = aZero.map { a - $0.cast(to: .float64) } ?? a
            let right = bZero.map { b - $0.cast(to: .float64) } ?? b
            return [matmul(left, right).cast(to: .int32)]
        },
    ]

    private static let uint8 = Int32(Onnx_TensorProto.DataType.uint8.rawValue)

    /// An input (value, scale, zero point) dequantized per tensor, for QLinearMatMul.
    private static func dequantize(_ context: ONNXNodeContext, value: Int, scale: Int, zeroPoint: Int) throws -> Tensor {
        let x = try context.input(value).cast(to: .float64)
        let zero = try context.optionalInput(zeroPoint).map { $0.cast(to: .float64) } ?? Tensor.zeros([], dtype: .float64)
        // Per-row (a) or per-column (b) parameters of a 2-D operand are allowed too.
        func shaped(_ p: Tensor) -> Tensor { p.count > 1 && value == 0 ? p.reshaped(to: [p.count, 1]) : p }
        return (x - shaped(zero)) * shaped(try context.input(scale).cast(to: .float64))
    }

    /// round(x / scale) + zero point (ties to even), saturated to the integer type's range;
    /// float8 types take the scaled value rounded as a cast would.
    static func quantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor?, code: Int32, saturate: Bool,
                         _ context: ONNXNodeContext) throws -> Tensor {
        let scaled = x.cast(to: .float64) / scale.cast(to: .float64)
        if let narrow = ONNXNarrowType(code: code), case .float = narrow {
            let shifted = zeroPoint.map { scaled + $0.cast(to: .float64) } ?? scaled
            return narrow.cast(shifted, saturate: saturate, roundMode: .nearest)
        }
        guard let range = integerRange(code) else {
            throw context.fail("cannot quantize to \(ONNXElementType.name(code)) (integer and float8 types can)")
        }
        var y = scaled.rounded()
        if let zeroPoint { y = y + zeroPoint.cast(to: .float64) }
        return y.clamp(min: range.lowerBound, max: range.upperBound).cast(to: try dtype(code, context))
    }

    private static func integerRange(_ code: Int32) -> ClosedRange<Double>? {
        switch Onnx_TensorProto.DataType(rawValue: Int(code)) {
        case .uint8?: return 0...255
        case .int8?: return -128...127
        case .uint16?: return 0...65535
        case .int16?: return -32768...32767
        case .int32?: return Double(Int32.min)...Double(Int32.max)
        case .uint4?: return 0...15
        case .int4?: return -8...7
        case .uint2?: return 0...3
        case .int2?: return -2...1
        default: return nil
        }
    }

    private static func dtype(_ code: Int32, _ context: ONNXNodeContext) throws -> DType {
        guard let dtype = ONNXElementType.dtype(code) else { throw context.fail("output type \(ONNXElementType.name(code)) is not supported") }
        return dtype
    }

    /// A scale or zero point shaped to broadcast against x: a scalar (per tensor), a vector
    /// along `axis` (per axis), or with x's rank and blocks of `blockSize` along `axis`.
    static func broadcast(_ p: Tensor, like x: Tensor, axis given: Int, blockSize: Int, _ context: ONNXNodeContext) throws -> Tensor {
        if p.count == 1 && p.rank <= 1 { return p.reshaped(to: []) }
        let axis = try context.axis(given, rank: x.rank)
        if blockSize > 0 {
            guard p.rank == x.rank, x.rank > axis else { throw context.fail("blocked parameters must have the input's rank \(x.rank), got shape \(p.shape)") }
            let length = x.shape[axis]
            guard p.shape[axis] == (length + blockSize - 1) / blockSize else {
                throw context.fail("blocked parameters of shape \(p.shape) do not cover axis \(axis) of \(x.shape) in blocks of \(blockSize)")
            }
            let index = Tensor((0..<length).map { Int64($0 / blockSize) }, shape: [length])
            return p.indexSelect(axis: axis, index: index)
        }
        guard p.rank == 1, x.rank > axis, p.count == x.shape[axis] else {
            throw context.fail("a per-axis parameter of shape \(p.shape) must hold \(x.rank > axis ? x.shape[axis] : 0) values (axis \(axis) of \(x.shape))")
        }
        var shape = Array(repeating: 1, count: x.rank)
        shape[axis] = p.count
        return p.reshaped(to: shape)
    }
}
