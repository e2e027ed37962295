import Ember
import EmberNN

/// The sum of word, absolute position and token-type (segment) embeddings, normalized and
/// dropped out: Hugging Face's `BertEmbeddings` with its state keys (`word_embeddings`,
/// `position_embeddings`, `token_type_embeddings`, `LayerNorm`).
public final class BERTEmbeddings: Module {
    public let wordEmbeddings: Embedding
    public let positionEmbeddings: Embedding
    public let tokenTypeEmbeddings: Embedding
    @Child public var layerNorm: LayerNorm
    public let dropout: Dropout

    init(_ config: BERTConfig, dtype: DType) {
        wordEmbeddings = Embedding(config.vocabSize, config.hiddenSize, paddingIndex: config.padTokenID, dtype: dtype)
        positionEmbeddings = Embedding(config.maxPositionEmbeddings, config.hiddenSize, dtype: dtype)
        tokenTypeEmbeddings = Embedding(config.typeVocabSize, config.hiddenSize, dtype: dtype)
        _layerNorm = Child(wrappedValue: LayerNorm(config.hiddenSize, epsilon: config.layerNormEps, dtype: dtype), key: "LayerNorm")
        dropout = Dropout(probability: config.hiddenDropoutProb)
    }

    /// `inputIDs` [batch, length] → [batch, length, hidden]. Without `tokenTypeIDs` every token
    /// is of type 0. Positions count from 0.
    public func callAsFunction(inputIDs: Tensor, tokenTypeIDs: Tensor? = nil) -> Tensor {
        recordingCall {
            let length = inputIDs.shape[1]
            // Positions 0..<length and the default type 0 are slices of the tables, broadcast
            // over the batch, rather than lookups of generated indices.
            let tokenTypes = tokenTypeIDs.map { tokenTypeEmbeddings($0) }
                ?? tokenTypeEmbeddings.weight.narrow(axis: 0, start: 0, count: 1)
            let positions = positionEmbeddings.weight.narrow(axis: 0, start: 0, count: length)
            return dropout(layerNorm(wordEmbeddings(inputIDs) + tokenTypes + positions))
        }
    }

    /// The embeddings of packed tokens (padding-free, see `PackedSequences`): `inputIDs`,
    /// `positionIDs` and optional `tokenTypeIDs` [tokens] → [tokens, hidden].
    public func callAsFunction(packedInputIDs inputIDs: Tensor, positionIDs: Tensor, tokenTypeIDs: Tensor? = nil) -> Tensor {
        recordingCall {
            let tokenTypes = tokenTypeIDs.map { tokenTypeEmbeddings($0) }
                ?? tokenTypeEmbeddings.weight.narrow(axis: 0, start: 0, count: 1)
            return dropout(layerNorm(wordEmbeddings(inputIDs) + tokenTypes + positionEmbeddings(positionIDs)))
        }
    }
}
