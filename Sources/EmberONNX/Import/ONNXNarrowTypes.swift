import Ember
import Foundation

/// ONNX's element types narrower than a byte or than float16 (float8 in its four variants
/// and E8M0, float4 E2M1, 4- and 2-bit integers). Ember holds their values widened: floats
/// as float32, integers as int32. Casting to one rounds and saturates each value as the type
/// would (ml_dtypes' rules, which the ONNX reference follows), with Ember operations, so a
/// cast stays part of a traced graph.
enum ONNXNarrowType {
    /// A minifloat: sign, exponent and mantissa bits, with its own NaN and infinity rules.
    struct Float {
        let exponentBits: Int
        let mantissaBits: Int
        let bias: Int
        let maximum: Double
        /// E5M2 has infinities; the FN variants use their top codes for NaN only.
        let hasInfinity: Bool
        /// FNUZ variants: the single NaN is the "negative zero" code 0x80.
        let nanIsNegativeZero: Bool
        /// float4 E2M1 has no NaN: NaN becomes zero and overflow always saturates.
        let hasNaN: Bool

        var minimumExponent: Int { 1 - bias }

        /// The value of a bit pattern (in the low bits of `bits`).
        func value(_ bits: UInt32) -> Double {
            let negative = (bits >> UInt32(exponentBits + mantissaBits)) & 1 == 1
            let exponent = Int((bits >> UInt32(mantissaBits)) & ((1 << UInt32(exponentBits)) - 1))
            let mantissa = Double(bits & ((1 << UInt32(mantissaBits)) - 1))
            let allOnes = (1 << exponentBits) - 1
            if nanIsNegativeZero && negative && exponent == 0 && mantissa == 0 { return .nan }
            if hasInfinity && exponent == allOnes { return mantissa == 0 ? (negative ? -.infinity : .infinity) : .nan }
            if hasNaN && !hasInfinity && !nanIsNegativeZero && exponent == allOnes && Int(mantissa) == (1 << mantissaBits) - 1 { return .nan }
            let scale = Double(1 << mantissaBits)
            let magnitude = exponent == 0
                ? mantissa / scale * Foundation.pow(2, Double(minimumExponent))
                : (1 + mantissa / scale) * Foundation.pow(2, Double(exponent - bias))
            return negative ? -magnitude : magnitude
        }

        /// Each value rounded to the nearest representable one (ties to even); values beyond
        /// the largest become it when saturating, else infinity or NaN as the type has.
        func round(_ x: Tensor, saturate: Bool) -> Tensor {
            let v = x.cast(to: .float64)
            let magnitude = v.abs()
            let exponent = ONNXNarrowType.binade(magnitude).clamp(min: Double(minimumExponent), max: 1024)
            let quantum = ONNXNarrowType.powerOfTwo(exponent - Double(mantissaBits))
            var y = (magnitude / quantum).rounded() * quantum
            let overflow: Double = saturate || !hasNaN ? maximum : (hasInfinity ? .infinity : .nan)
            y = Tensor.where(y .> maximum, Tensor.full([], overflow, dtype: .float64), y) * v.sign()
            y = Tensor.where(v .!= v, Tensor.full([], hasNaN ? .nan : 0, dtype: .float64), y)
            return y.cast(to: .float32)
        }
    }

    /// A signed or unsigned integer of `bits` bits.
    struct Integer {
        let bits: Int
        let signed: Bool
        var range: ClosedRange<Int> { signed ? -(1 << (bits - 1))...((1 << (bits - 1)) - 1) : 0...((1 << bits) - 1) }

        func value(_ pattern: UInt32) -> Double {
            let raw = Int(pattern & ((1 << UInt32(bits)) - 1))
            return Double(signed && raw > range.upperBound ? raw - (1 << bits) : raw)
        }

        /// Truncation toward zero; values outside the range (and NaN) become 0, as ml_dtypes'
        /// conversions (and so the ONNX reference) give.
        func round(_ x: Tensor) -> Tensor {
            let v = x.cast(to: .float64)
            let truncated = Tensor.where(v .< 0, v.ceil(), v.floor())
            let inside = (truncated .>= Double(range.lowerBound)).logicalAnd(truncated .<= Double(range.upperBound))
            return Tensor.where(inside, truncated, Tensor.zeros([], dtype: .float64)).cast(to: .int32)
        }
    }

    case float(Float)
    case integer(Integer)
    /// float8 E8M0: an unsigned power of two, 2^(bits - 127); 0xFF is NaN.
    case e8m0

    init?(code: Int32) {
        switch Onnx_TensorProto.DataType(rawValue: Int(code)) {
        case .float8E4M3Fn?:
            self = .float(Float(exponentBits: 4, mantissaBits: 3, bias: 7, maximum: 448, hasInfinity: false, nanIsNegativeZero: false, hasNaN: true))
        case .float8E4M3Fnuz?:
            self = .float(Float(exponentBits: 4, mantissaBits: 3, bias: 8, maximum: 240, hasInfinity: false, nanIsNegativeZero: true, hasNaN: true))
        case .float8E5M2?:
            self = .float(Float(exponentBits: 5, mantissaBits: 2, bias: 15, maximum: 57344, hasInfinity: true, nanIsNegativeZero: false, hasNaN: true))
        case .float8E5M2Fnuz?:
            self = .float(Float(exponentBits: 5, mantissaBits: 2, bias: 16, maximum: 57344, hasInfinity: false, nanIsNegativeZero: true, hasNaN: true))
        case .float4E2M1?:
            self = .float(Float(exponentBits: 2, mantissaBits: 1, bias: 1, maximum: 6, hasInfinity: false, nanIsNegativeZero: false, hasNaN: false))
        case .float8E8M0?: self = .e8m0
        case .int4?: self = .integer(Integer(bits: 4, signed: true))
        case .uint4?: self = .integer(Integer(bits: 4, signed: false))
        case .int2?: self = .integer(Integer(bits: 2, signed: true))
        case .uint2?: self = .integer(Integer(bits: 2, signed: false))
        default: return nil
        }
    }

    /// The Ember dtype its values are held in.
    var dtype: DType {
        if case .integer = self { return .int32 }
        return .float32
    }

    /// Bits per element when packed (TensorProto raw_data): several elements share a byte,
    /// the first in the low bits.
    var packedBits: Int {
        switch self {
        case .float(let format): return 1 + format.exponentBits + format.mantissaBits
        case .integer(let format): return format.bits
        case .e8m0: return 8
        }
    }

    func value(_ pattern: UInt32) -> Double {
        switch self {
        case .float(let format): return format.value(pattern)
        case .integer(let format): return format.value(pattern)
        case .e8m0: return pattern & 0xFF == 0xFF ? .nan : Foundation.pow(2, Double(Int(pattern & 0xFF) - 127))
        }
    }

    /// Tensor of `shape` from elements stored one per byte (ml_dtypes' .npy records, int32_data).
    func tensor(unpacked patterns: some Collection<UInt32>, shape: [Int]) -> Tensor {
        Tensor(doubles: patterns.map(value), shape: shape, dtype: dtype)
    }

    /// Tensor of `shape` from packed bytes; nil when the byte count does not match.
    func tensor(packed bytes: some Collection<UInt8>, shape: [Int]) -> Tensor? {
        let count = shape.reduce(1, *), perByte = 8 / packedBits
        guard bytes.count == (count + perByte - 1) / perByte else { return nil }
        let mask = UInt32((1 << packedBits) - 1)
        var patterns = [UInt32]()
        patterns.reserveCapacity(count)
        for byte in bytes {
            for slot in 0..<perByte where patterns.count < count {
                patterns.append((UInt32(byte) >> UInt32(slot * packedBits)) & mask)
            }
        }
        return tensor(unpacked: patterns, shape: shape)
    }

    /// `x` cast to this type: rounded (and saturated where `saturate`) to its values.
    func cast(_ x: Tensor, saturate: Bool, roundMode: E8M0Rounding) -> Tensor {
        switch self {
        case .float(let format): return format.round(x, saturate: saturate)
        case .integer(let format): return format.round(x)
        case .e8m0: return Self.roundE8M0(x, saturate: saturate, roundMode: roundMode)
        }
    }

    /// Cast's round_mode attribute (opset 24), used by E8M0 only.
    enum E8M0Rounding: String { case up, down, nearest }

    /// E8M0 keeps the exponent of |x| and drops its sign: `up` rounds any remaining mantissa
    /// up, `down` drops it, `nearest` rounds at half (ONNX's to_float8e8m0).
    private static func roundE8M0(_ x: Tensor, saturate: Bool, roundMode: E8M0Rounding) -> Tensor {
        let magnitude = x.cast(to: .float64).abs()
        let exponent = binade(magnitude).clamp(min: -127, max: 1024)
        let power = powerOfTwo(exponent)
        let one = Tensor.ones([], dtype: .float64), zero = Tensor.zeros([], dtype: .float64)
        let increment: Tensor
        switch roundMode {
        case .up: increment = Tensor.where(magnitude .> power, one, zero)
        case .down: increment = zero
        case .nearest: increment = Tensor.where(magnitude .>= power * 1.5, one, zero)
        }
        let rounded = exponent + increment
        var y = powerOfTwo(rounded.clamp(max: 127))
        let special = (magnitude .!= magnitude).logicalOr(magnitude .== Double.infinity)
        let nan = Tensor.full([], .nan, dtype: .float64)
        if !saturate { y = Tensor.where(rounded .> 127, nan, y) }
        return Tensor.where(special, nan, y).cast(to: .float32)
    }

    /// floor(log2(a)) for a > 0, exact at powers of two (log's rounding corrected); -inf at 0.
    static func binade(_ magnitude: Tensor) -> Tensor {
        var exponent = (magnitude.log() / M_LN2).floor()
        let power = powerOfTwo(exponent)
        exponent = Tensor.where(power .> magnitude, exponent - 1, exponent)
        return Tensor.where(powerOfTwo(exponent) * 2 .<= magnitude, exponent + 1, exponent)
    }

    static func powerOfTwo(_ exponent: Tensor) -> Tensor {
        pow(Tensor.full([], 2, dtype: .float64), exponent)
    }
}
