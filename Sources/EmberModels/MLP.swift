import Ember
import EmberNN

/// A multilayer perceptron: `layers` holds, for each hidden size, a `Linear`, the activation
/// and a `Dropout`, then the output `Linear`, in the layout of torchvision's
/// `torchvision.ops.MLP`. State keys are `layers.0.weight`, `layers.0.bias`, `layers.3.weight`,
/// ...: a torchvision MLP's keys under `layers.` (a PyTorch module holding one as
/// `self.layers`). The input is flattened from axis 1, so images [N, C, H, W] go in as they
/// are. Unlike torchvision's, no dropout follows the output layer (it would drop logits);
/// dropout has no state, so the keys are the same.
public final class MLP: Module, Layer {
    /// The nonlinearity between layers.
    public enum Activation: String, Sendable, CaseIterable {
        case relu, gelu, tanh, silu

        func layer() -> any Layer {
            switch self {
            case .relu: return ReLU()
            case .gelu: return GELU()
            case .tanh: return Tanh()
            case .silu: return SiLU()
            }
        }
    }

    let layers: [any Layer]
    public let inputFeatures: Int
    public let outputFeatures: Int

    /// `hiddenSizes` may be empty (a linear model). `dropout` applies after each hidden
    /// layer's activation in training mode.
    public init(inputFeatures: Int, hiddenSizes: [Int], outputFeatures: Int, activation: Activation = .relu,
                dropout: Double = 0, dtype: DType = .float32) {
        precondition(inputFeatures > 0 && outputFeatures > 0 && hiddenSizes.allSatisfy { $0 > 0 },
                     "MLP: feature counts must be positive, got \(inputFeatures) → \(hiddenSizes) → \(outputFeatures)")
        precondition((0..<1).contains(dropout), "MLP: dropout must be in [0, 1), got \(dropout)")
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        var layers = [any Layer]()
        var features = inputFeatures
        for size in hiddenSizes {
            layers += [Linear(features, size, dtype: dtype), activation.layer(), Dropout(probability: dropout)]
            features = size
        }
        layers.append(Linear(features, outputFeatures, dtype: dtype))
        self.layers = layers
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2 && x.shape.dropFirst().reduce(1, *) == inputFeatures,
                     "MLP: expected a batch [N, ...] of \(inputFeatures) features per sample, found \(x.shape)")
        return layers.reduce(x.flattened(from: 1)) { $1($0) }
    }
}
