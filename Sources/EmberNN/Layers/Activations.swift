import Ember

/// Elementwise activations as layers, for `Sequential`. The functions themselves live on
/// `Tensor` (`x.relu()`, `x.gelu()`, ...).

/// max(x, 0), as `torch.nn.ReLU`.
public final class ReLU: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// x where x >= 0, else `negativeSlope * x`, as `torch.nn.LeakyReLU`.
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

/// x * sigmoid(x) (swish), as `torch.nn.SiLU`.
public final class SiLU: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.silu() }
}

/// The hyperbolic tangent, as `torch.nn.Tanh`.
public final class Tanh: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// 1 / (1 + e^-x), as `torch.nn.Sigmoid`.
public final class Sigmoid: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// Softmax along `axis` (default the last), as `torch.nn.Softmax(dim:)`.
public final class Softmax: Module, Layer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
}

/// log(softmax(x)) along `axis`, computed stably, as `torch.nn.LogSoftmax(dim:)`.
public final class LogSoftmax: Module, Layer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ x: Tensor) -> Tensor { x.logSoftmax(axis: axis) }
}
