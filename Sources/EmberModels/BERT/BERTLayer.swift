import Ember
import EmberNN

/// The first half of the feed-forward block: a projection to `intermediateSize` and the
/// activation (Hugging Face's `BertIntermediate`: `dense`).
public final class BERTIntermediate: Module, Layer {
    public let dense: Linear
    public let activation: BERTActivation

    init(_ config: BERTConfig, dtype: DType) {
        dense = Linear(config.hiddenSize, config.intermediateSize, dtype: dtype)
        activation = config.activation
    }

    public func forward(_ x: Tensor) -> Tensor { activation(dense(x)) }
}

/// One post-norm encoder layer (Hugging Face's `BertLayer`: `attention`, `intermediate`,
/// `output`): self-attention, then the feed-forward block, each with a residual connection
/// and layer norm.
public final class BERTLayer: Module {
    public let attention: BERTAttention
    public let intermediate: BERTIntermediate
    public let output: BERTResidualOutput

    init(_ config: BERTConfig, dtype: DType) {
        attention = BERTAttention(config, dtype: dtype)
        intermediate = BERTIntermediate(config, dtype: dtype)
        output = BERTResidualOutput(inputSize: config.intermediateSize, config, dtype: dtype)
    }

    /// `hidden` [batch, length, hidden], or packed rows [tokens, hidden] with `packing`
    /// (see `BERTSelfAttention`).
    public func callAsFunction(_ hidden: Tensor, mask: Tensor?, packing: PackedSequences? = nil) -> Tensor {
        recordingCall {
            let attended = attention(hidden, mask: mask, packing: packing)
            return output(intermediate(attended), residual: attended)
        }
    }
}

/// The stack of encoder layers (Hugging Face's `BertEncoder`: `layer.0`, `layer.1`, ...).
public final class BERTEncoder: Module {
    public let layer: [BERTLayer]

    init(_ config: BERTConfig, dtype: DType) {
        layer = (0..<config.numHiddenLayers).map { _ in BERTLayer(config, dtype: dtype) }
    }

    public func callAsFunction(_ hidden: Tensor, mask: Tensor?, packing: PackedSequences? = nil) -> Tensor {
        recordingCall { layer.reduce(hidden) { $1($0, mask: mask, packing: packing) } }
    }
}
