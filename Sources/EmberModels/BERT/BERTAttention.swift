import Ember
import EmberNN

/// Multi-head self-attention with separate query, key and value projections (Hugging Face's
/// `BertSelfAttention`: `query`, `key`, `value`). The heads run as batched matrix products
/// through `scaledDotProductAttention`.
public final class BERTSelfAttention: Module {
    public let query: Linear
    public let key: Linear
    public let value: Linear
    public let numHeads: Int
    public let headSize: Int
    /// Dropout on the attention weights, in training mode.
    public let dropoutProbability: Double

    init(_ config: BERTConfig, dtype: DType) {
        query = Linear(config.hiddenSize, config.hiddenSize, dtype: dtype)
        key = Linear(config.hiddenSize, config.hiddenSize, dtype: dtype)
        value = Linear(config.hiddenSize, config.hiddenSize, dtype: dtype)
        numHeads = config.numAttentionHeads
        headSize = config.headSize
        dropoutProbability = config.attentionProbsDropoutProb
    }

    /// `hidden` [batch, length, hidden]; `mask` is added to the scores [batch, heads, length, length].
    /// With `packing`, `hidden` is the packed rows [tokens, hidden] (padding-free: see
    /// `PackedSequences`): the projections run on the packed rows and each sentence attends
    /// within its slots [batch, heads, span, span], `mask` hiding the empty ones.
    public func callAsFunction(_ hidden: Tensor, mask: Tensor?, packing: PackedSequences? = nil) -> Tensor {
        recordingCall {
            let batch = packing?.batch ?? hidden.shape[0], length = packing?.span ?? hidden.shape[1]
            // [batch, length, hidden] as the view [batch, heads, length, headSize].
            func heads(_ x: Tensor) -> Tensor {
                (packing?.regroup(x) ?? x).reshaped(to: [batch, length, numHeads, headSize]).permuted(0, 2, 1, 3)
            }
            let context = scaledDotProductAttention(heads(query(hidden)), heads(key(hidden)), heads(value(hidden)), mask: mask,
                                                    dropout: isTraining ? dropoutProbability : 0)
            let merged = context.permuted(0, 2, 1, 3).reshaped(to: [batch, length, numHeads * headSize])
            return packing?.ungroup(merged) ?? merged
        }
    }
}

/// The projection after attention, dropout, and layer norm of the residual sum (Hugging Face's
/// `BertSelfOutput`; `BertOutput` is the same after the feed-forward block).
public final class BERTResidualOutput: Module {
    public let dense: Linear
    @Child public var layerNorm: LayerNorm
    public let dropout: Dropout

    init(inputSize: Int, _ config: BERTConfig, dtype: DType) {
        dense = Linear(inputSize, config.hiddenSize, dtype: dtype)
        _layerNorm = Child(wrappedValue: LayerNorm(config.hiddenSize, epsilon: config.layerNormEps, dtype: dtype), key: "LayerNorm")
        dropout = Dropout(probability: config.hiddenDropoutProb)
    }

    /// layerNorm(dropout(dense(x)) + residual).
    public func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor {
        recordingCall { layerNorm(dropout(dense(x)) + residual) }
    }
}

/// Self-attention and its output block (Hugging Face's `BertAttention`: `self`, `output`).
public final class BERTAttention: Module {
    @Child public var selfAttention: BERTSelfAttention
    public let output: BERTResidualOutput

    init(_ config: BERTConfig, dtype: DType) {
        _selfAttention = Child(wrappedValue: BERTSelfAttention(config, dtype: dtype), key: "self")
        output = BERTResidualOutput(inputSize: config.hiddenSize, config, dtype: dtype)
    }

    /// See `BERTSelfAttention` for `packing`.
    public func callAsFunction(_ hidden: Tensor, mask: Tensor?, packing: PackedSequences? = nil) -> Tensor {
        recordingCall { output(selfAttention(hidden, mask: mask, packing: packing), residual: hidden) }
    }
}
