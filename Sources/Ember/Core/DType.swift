/// The element type of a tensor.
public enum DType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case bool, int32, int64, float16, bfloat16, float32, float64

    public var byteSize: Int {
        switch self {
        case .bool: return 1
        case .float16, .bfloat16: return 2
        case .int32, .float32: return 4
        case .int64, .float64: return 8
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: return true
        case .bool, .int32, .int64: return false
        }
    }

    /// Half-precision types are stored natively but computed in float32, as CPU frameworks do.
    public var isHalf: Bool { self == .float16 || self == .bfloat16 }

    public var description: String {
        switch self {
        case .bool: return "bool"
        case .int32: return "int32"
        case .int64: return "int64"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .float32: return "float32"
        case .float64: return "float64"
        }
    }

    /// The type two operands are computed in, following PyTorch's promotion lattice:
    /// bool < int32 < int64 < half floats < float32 < float64; float16 with bfloat16 gives float32.
    public static func promoted(_ a: DType, _ b: DType) -> DType {
        if a == b { return a }
        if (a == .float16 && b == .bfloat16) || (a == .bfloat16 && b == .float16) { return .float32 }
        return a.rawValue > b.rawValue ? a : b
    }
}

/// A Swift type that can be an element of a tensor.
public protocol TensorScalar {
    static var dtype: DType { get }
    /// Conversion through Double, used by creation, printing and element access.
    init(fromDouble value: Double)
    var doubleValue: Double { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    public var doubleValue: Double { Double(self) }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    public var doubleValue: Double { self }
}

extension Float16: TensorScalar {
    public static var dtype: DType { .float16 }
    public init(fromDouble value: Double) { self = Float16(Float(value)) }
    public var doubleValue: Double { Double(Float(self)) }
}

extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public init(fromDouble value: Double) { self = Int32(value) }
    public var doubleValue: Double { Double(self) }
}

extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int64(value) }
    public var doubleValue: Double { Double(self) }
}

extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 }
    public var doubleValue: Double { self ? 1 : 0 }
}

/// Brain floating point: the upper 16 bits of an IEEE float32.
public struct BFloat16: TensorScalar, Equatable, Sendable, CustomStringConvertible {
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds to nearest, ties to even; NaN stays NaN.
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x40
        } else {
            let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
        }
    }

    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    public static var dtype: DType { .bfloat16 }
    public init(fromDouble value: Double) { self.init(Float(value)) }
    public var doubleValue: Double { Double(floatValue) }
    public var description: String { floatValue.description }
}
