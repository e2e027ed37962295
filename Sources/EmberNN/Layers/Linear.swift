import Ember

/// `y = x Wᵀ + b` over the last axis, with PyTorch's layout (`weight` is
/// [outFeatures, inFeatures]) and default initialization (uniform in ±1/√inFeatures).
public final class Linear: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive, got \(inFeatures) → \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Double(inFeatures).squareRoot()
        weight = Initializer.kaimingUniform(a: 5.0.squareRoot()).make([outFeatures, inFeatures], dtype: dtype)
        self.bias = bias ? Initializer.uniform(low: -bound, high: bound).make([outFeatures], dtype: dtype) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures,
                     "Linear(\(inFeatures), \(outFeatures)): expected an input whose last axis is \(inFeatures), got \(x.shape)")
        // Under autocast the weight is cast before the transpose (a parameter is cast once
        // per region) and the bias joins the product's type, as in PyTorch's `linear`.
        // One fused primitive in eager inference, the product and the add otherwise.
        return Ember.linear(x, Autocast.lowered(weight).transposed(), bias: bias.map { Autocast.lowered($0) })
    }
}
