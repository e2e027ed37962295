import Ember

/// Inverted dropout: in training mode zeroes each element with probability `probability`
/// and scales the rest by 1/(1 - probability); the identity in evaluation mode. Masks come
/// from the global generator (`manualSeed`).
public final class Dropout: Module, Layer {
    public let probability: Double

    public init(probability: Double = 0.5) {
        precondition((0...1).contains(probability), "Dropout: probability must be in [0, 1], got \(probability)")
        self.probability = probability
    }

    public func forward(_ x: Tensor) -> Tensor {
        guard isTraining && probability > 0 else { return x }
        if probability == 1 { return x * 0 }
        let keep = Tensor.bernoulli(x.shape, probability: 1 - probability, dtype: x.dtype)
        return x * (keep * (1 / (1 - probability)))
    }
}
