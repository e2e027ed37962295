import Glibc

/// Element types the CPU kernels are specialized for, with conversion through Double
/// for casts between any two of them.
protocol KernelElement {
    init(kernelDouble value: Double)
    var kernelDouble: Double { get }
}

/// Floating-point element types computed natively (half types are computed in float32).
protocol KernelFloat: KernelElement, BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: KernelFloat {
    init(kernelDouble value: Double) { self = Float(value) }
    var kernelDouble: Double { Double(self) }
    static func exp(_ x: Float) -> Float { expf(x) }
    static func log(_ x: Float) -> Float { logf(x) }
    static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    static func sin(_ x: Float) -> Float { sinf(x) }
    static func cos(_ x: Float) -> Float { cosf(x) }
    static func tanh(_ x: Float) -> Float { tanhf(x) }
    static func erf(_ x: Float) -> Float { erff(x) }
    static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: KernelFloat {
    init(kernelDouble value: Double) { self = value }
    var kernelDouble: Double { self }
    static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    static func log(_ x: Double) -> Double { Glibc.log(x) }
    static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    static func sin(_ x: Double) -> Double { Glibc.sin(x) }
    static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
}

extension Float16: KernelElement {
    init(kernelDouble value: Double) { self = Float16(value) }
    var kernelDouble: Double { Double(self) }
}

extension BFloat16: KernelElement {
    init(kernelDouble value: Double) { self.init(Float(value)) }
    var kernelDouble: Double { Double(floatValue) }
}

extension Int32: KernelElement {
    // Out-of-range and NaN values saturate instead of trapping, as casts in C do not define.
    init(kernelDouble value: Double) {
        self = value.isNaN ? 0 : Int32(Swift.max(Swift.min(value.rounded(.towardZero), Double(Int32.max)), Double(Int32.min)))
    }
    var kernelDouble: Double { Double(self) }
}

extension Int64: KernelElement {
    init(kernelDouble value: Double) {
        self = value.isNaN ? 0 : (value >= 9.223372036854775807e18 ? .max : (value <= -9.223372036854775807e18 ? .min : Int64(value)))
    }
    var kernelDouble: Double { Double(self) }
}

extension Bool: KernelElement {
    init(kernelDouble value: Double) { self = value != 0 }
    var kernelDouble: Double { self ? 1 : 0 }
}

/// Calls `body` with the Swift type of a dtype's elements.
@inline(__always)
func withElementType<R>(_ dtype: DType, _ body: (any KernelElement.Type) -> R) -> R {
    switch dtype {
    case .bool: return body(Bool.self)
    case .int32: return body(Int32.self)
    case .int64: return body(Int64.self)
    case .float16: return body(Float16.self)
    case .bfloat16: return body(BFloat16.self)
    case .float32: return body(Float.self)
    case .float64: return body(Double.self)
    }
}

extension Tensor {
    @inline(__always)
    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        baseAddress.assumingMemoryBound(to: T.self)
    }
}
