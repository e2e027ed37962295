import Ember

/// An activation applied by a Keras-style layer (`Dense(64, activation: .relu)`).
public enum Activation: Sendable {
    case relu, sigmoid, tanh, gelu, silu
    /// Over the last axis.
    case softmax

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: x.relu()
        case .sigmoid: x.sigmoid()
        case .tanh: x.tanh()
        case .gelu: x.gelu()
        case .silu: x.silu()
        case .softmax: x.softmax(axis: -1)
        }
    }
}

/// Keras's `Dense(units, activation:)`: `activation(x Wᵀ + b)` over the last axis, with
/// Keras's initialization (Glorot uniform weights, zero bias) and PyTorch's layout and keys
/// (`weight` [units, inputFeatures], `bias`). The input size may be left out: the layer is
/// built on its first call, symbolic (in a functional model) or real.
public final class Dense: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let units: Int
    public let activation: Activation?
    public let useBias: Bool
    public let dtype: DType

    public init(_ units: Int, activation: Activation? = nil, useBias: Bool = true, inputFeatures: Int? = nil,
                dtype: DType = .float32) {
        precondition(units > 0, "Dense: units must be positive, got \(units)")
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.dtype = dtype
        super.init()
        if let inputFeatures { build(inputFeatures: inputFeatures) }
    }

    /// The input size, once built.
    public var inputFeatures: Int? { weight?.shape[1] }

    /// Creates the weights for inputs of `inputFeatures` features (once).
    public func build(inputFeatures: Int) {
        precondition(inputFeatures > 0, "Dense(\(units)): the input must have features, got \(inputFeatures)")
        guard weight == nil else { return }
        // Set after init, so they are marked trainable here (as `@Parameter`'s init marks them).
        weight = Initializer.xavierUniform().make([units, inputFeatures], dtype: dtype).requiringGrad()
        if useBias { bias = Tensor.zeros([units], dtype: dtype).requiringGrad() }
    }

    public func forward(_ x: Tensor) -> Tensor {
        let features = x.shape.last ?? 0
        if weight == nil { build(inputFeatures: features) }
        precondition(features == inputFeatures,
                     "Dense(\(units)): built for inputs of \(inputFeatures!) features, got an input of shape \(x.shape)")
        // Under autocast: cast once per region, before the transpose (see Linear).
        let y = x.matmul(Autocast.lowered(weight!).transposed())
        let biased = bias.map { y + Autocast.lowered($0) } ?? y
        return activation.map { $0(biased) } ?? biased
    }
}
