import Ember
import EmberNN

/// A transformer encoder that classifies token sequences: token embedding (whose padding row
/// stays zero) plus a learned position embedding, dropout, `numLayers` batch-first
/// `TransformerEncoderLayer`s, a final layer norm when the layers are pre-norm, the mean of
/// the outputs over the tokens that are not padding, and a linear head.
///
/// State keys: `token_embedding.weight`, `position_embedding.weight`, `encoder.layers.N.*`
/// (PyTorch's `nn.TransformerEncoder` and `nn.TransformerEncoderLayer`), `encoder.norm.*`
/// (pre-norm only), `head.weight`, `head.bias`. Embeddings start from N(0, 0.02²) as in
/// BERT and GPT; the encoder layers start as PyTorch's (all layers equal, as its
/// `TransformerEncoder` copies one layer).
public final class TransformerClassifier: Module, Layer {
    let tokenEmbedding: Embedding
    let positionEmbedding: Embedding
    let dropout: Dropout
    let encoder: TransformerEncoder
    let head: Linear

    public let vocabularySize: Int
    public let classes: Int
    /// The longest sequence the position embedding covers.
    public let maxLength: Int
    /// The token that marks padding; its positions are ignored by attention and pooling.
    public let paddingIndex: Int

    /// `feedforward` defaults to 4·dModel. `normFirst` selects pre-norm layers (and adds the
    /// final layer norm); post-norm is the original transformer's and PyTorch's default.
    public init(vocabularySize: Int, classes: Int, dModel: Int = 128, numHeads: Int = 4, numLayers: Int = 2,
                feedforward: Int? = nil, maxLength: Int = 512, dropout: Double = 0.1, paddingIndex: Int = 0,
                normFirst: Bool = true, activation: TransformerActivation = .gelu, dtype: DType = .float32) {
        precondition(vocabularySize > 0 && classes > 0 && maxLength > 0 && numLayers > 0,
                     "TransformerClassifier: vocabularySize, classes, maxLength and numLayers must be positive, got \(vocabularySize), \(classes), \(maxLength), \(numLayers)")
        precondition((0..<vocabularySize).contains(paddingIndex),
                     "TransformerClassifier: paddingIndex must be in 0..<\(vocabularySize), got \(paddingIndex)")
        self.vocabularySize = vocabularySize
        self.classes = classes
        self.maxLength = maxLength
        self.paddingIndex = paddingIndex
        tokenEmbedding = Embedding(vocabularySize, dModel, paddingIndex: paddingIndex, dtype: dtype)
        positionEmbedding = Embedding(maxLength, dModel, dtype: dtype)
        self.dropout = Dropout(probability: dropout)
        let layer = TransformerEncoderLayer(dModel: dModel, numHeads: numHeads, feedforward: feedforward ?? 4 * dModel,
                                            dropout: dropout, activation: activation, batchFirst: true, normFirst: normFirst,
                                            dtype: dtype)
        encoder = TransformerEncoder(layer, numLayers: numLayers, norm: normFirst ? LayerNorm(dModel, dtype: dtype) : nil)
        head = Linear(dModel, classes, dtype: dtype)
        super.init()
        noGrad {
            for embedding in [tokenEmbedding, positionEmbedding] {
                Initializer.normal(std: 0.02).apply(to: embedding.weight)
            }
            tokenEmbedding.weight.narrow(axis: 0, start: paddingIndex, count: 1).assign(.scalar(0))
        }
    }

    /// Logits [batch, classes] for tokens [batch, length] (int64 or int32). With no
    /// `paddingMask`, the padding positions are the tokens equal to `paddingIndex`; a mask
    /// [batch, length] is true at padding. A sequence of padding only pools to zeros.
    public func callAsFunction(_ tokens: Tensor, paddingMask: Tensor? = nil) -> Tensor {
        recordingCall { classify(tokens, paddingMask: paddingMask) }
    }

    public func forward(_ tokens: Tensor) -> Tensor { classify(tokens, paddingMask: nil) }

    private func classify(_ tokens: Tensor, paddingMask: Tensor?) -> Tensor {
        precondition(tokens.rank == 2 && (tokens.dtype == .int64 || tokens.dtype == .int32),
                     "TransformerClassifier: expected int64 tokens [batch, length], found \(tokens.dtype) \(tokens.shape)")
        let length = tokens.shape[1]
        precondition(length <= maxLength,
                     "TransformerClassifier: sequences of \(length) tokens exceed the position embedding's \(maxLength)")
        precondition(paddingMask.map { $0.shape == tokens.shape && $0.dtype == .bool } ?? true,
                     "TransformerClassifier: expected a bool padding mask of shape \(tokens.shape), found \(paddingMask!.dtype) \(paddingMask!.shape)")
        let padding = paddingMask ?? (tokens .== Double(paddingIndex))
        let embedded = tokenEmbedding(tokens) + positionEmbedding(Tensor.arange(length))
        let encoded = encoder(dropout(embedded), mask: nil, keyPaddingMask: padding)
        // Mean over the tokens that are not padding.
        let keep = padding.logicalNot().cast(to: encoded.dtype).unsqueezed(axis: -1)
        let counts = maximum(keep.sum(axis: 1), Tensor.scalar(1, dtype: encoded.dtype))
        return head((encoded * keep).sum(axis: 1) / counts)
    }
}
