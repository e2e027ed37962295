/// Swift operators over tensors, with Swift numbers on either side. Comparisons use the
/// pointwise spellings (`.==`, `.<`, ...) so that `==` keeps its Swift meaning.
extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(.add, a, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(.sub, a, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(.mul, a, b) }

    /// True division: integer operands give float32, as in PyTorch. See `floorDivided(by:)`.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        if !a.dtype.isFloatingPoint && !b.dtype.isFloatingPoint {
            return Elementwise.binary(.div, a.cast(to: .float32), b.cast(to: .float32))
        }
        return Elementwise.binary(.div, a, b)
    }

    public static prefix func - (x: Tensor) -> Tensor { x.neg() }

    public static func + (a: Tensor, b: Double) -> Tensor { a + Elementwise.scalar(b, like: a) }
    public static func - (a: Tensor, b: Double) -> Tensor { a - Elementwise.scalar(b, like: a) }
    public static func * (a: Tensor, b: Double) -> Tensor { a * Elementwise.scalar(b, like: a) }
    public static func / (a: Tensor, b: Double) -> Tensor { a / Elementwise.scalar(b, like: a) }
    public static func + (a: Double, b: Tensor) -> Tensor { Elementwise.scalar(a, like: b) + b }
    public static func - (a: Double, b: Tensor) -> Tensor { Elementwise.scalar(a, like: b) - b }
    public static func * (a: Double, b: Tensor) -> Tensor { Elementwise.scalar(a, like: b) * b }
    public static func / (a: Double, b: Tensor) -> Tensor { Elementwise.scalar(a, like: b) / b }

    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }

    /// Division rounding toward negative infinity (Python's //); floats are floored after dividing.
    public func floorDivided(by other: Tensor) -> Tensor {
        if dtype.isFloatingPoint || other.dtype.isFloatingPoint { return (self / other).floor() }
        return Elementwise.binary(.div, self, other)
    }

    public static func .== (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.equal, a, b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.notEqual, a, b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.less, a, b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.lessEqual, a, b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.greater, a, b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { Elementwise.compare(.greaterEqual, a, b) }

    public static func .== (a: Tensor, b: Double) -> Tensor { a .== Elementwise.scalar(b, like: a) }
    public static func .!= (a: Tensor, b: Double) -> Tensor { a .!= Elementwise.scalar(b, like: a) }
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< Elementwise.scalar(b, like: a) }
    public static func .<= (a: Tensor, b: Double) -> Tensor { a .<= Elementwise.scalar(b, like: a) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> Elementwise.scalar(b, like: a) }
    public static func .>= (a: Tensor, b: Double) -> Tensor { a .>= Elementwise.scalar(b, like: a) }
}
