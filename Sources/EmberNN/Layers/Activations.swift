import Ember

/// Elementwise activations as layers, for `Sequential`. The functions themselves live on
/// `Tensor` (`x.relu()`, `x.gelu()`, ...).

public final class ReLU: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
}

public final class LeakyReLU: Module, Layer {
    public let negativeSlope: Double
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }
    public func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
}

/// GELU, exact (erf) by default; `approximate: true` is the tanh form.
public final class GELU: Module, Layer {
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}

public final class SiLU: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.silu() }
}

public final class Tanh: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

public final class Sigmoid: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

public final class Softmax: Module, Layer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
}

public final class LogSoftmax: Module, Layer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ x: Tensor) -> Tensor { x.logSoftmax(axis: axis) }
}
