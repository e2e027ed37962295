import Ember
import EmberNN

/// A recurrent classifier of token sequences: embedding (whose padding row stays zero), a
/// batch-first `LSTM`, and a linear head on the last layer's final hidden state. Sequences run
/// as a PyTorch `PackedSequence` of their own lengths, so padding changes nothing: the forward
/// direction's state is the one after each sequence's last token and, when bidirectional, the
/// backward direction's is the one after reading the sequence from that token back to the
/// first; the head sees the two concatenated (PyTorch's `h_n[-2]` and `h_n[-1]` after
/// `pack_padded_sequence`).
///
/// State keys: `embedding.weight`, `lstm.weight_ih_l0`, ... (PyTorch's `nn.LSTM`), `head.weight`,
/// `head.bias`.
public final class LSTMClassifier: Module, Layer {
    let embedding: Embedding
    let lstm: LSTM
    let dropout: Dropout
    let head: Linear

    public let vocabularySize: Int
    public let classes: Int
    /// The token that marks padding; lengths are counted without it.
    public let paddingIndex: Int

    /// `dropout` applies between LSTM layers and before the head, in training mode.
    public init(vocabularySize: Int, classes: Int, embeddingSize: Int = 128, hiddenSize: Int = 128, numLayers: Int = 1,
                bidirectional: Bool = false, dropout: Double = 0, paddingIndex: Int = 0, dtype: DType = .float32) {
        precondition(vocabularySize > 0 && classes > 0,
                     "LSTMClassifier: vocabularySize and classes must be positive, got \(vocabularySize) and \(classes)")
        precondition((0..<vocabularySize).contains(paddingIndex),
                     "LSTMClassifier: paddingIndex must be in 0..<\(vocabularySize), got \(paddingIndex)")
        self.vocabularySize = vocabularySize
        self.classes = classes
        self.paddingIndex = paddingIndex
        embedding = Embedding(vocabularySize, embeddingSize, paddingIndex: paddingIndex, dtype: dtype)
        lstm = LSTM(inputSize: embeddingSize, hiddenSize: hiddenSize, numLayers: numLayers, batchFirst: true,
                    dropout: dropout, bidirectional: bidirectional, dtype: dtype)
        self.dropout = Dropout(probability: dropout)
        head = Linear(hiddenSize * (bidirectional ? 2 : 1), classes, dtype: dtype)
    }

    /// Logits [batch, classes] for tokens [batch, length] (int64 or int32). `lengths` gives
    /// each sequence's number of tokens (each in 1...length); when nil, it is the number of
    /// tokens that are not `paddingIndex`, for sequences padded at the end.
    public func callAsFunction(_ tokens: Tensor, lengths: [Int]? = nil) -> Tensor {
        recordingCall { classify(tokens, lengths: lengths) }
    }

    public func forward(_ tokens: Tensor) -> Tensor { classify(tokens, lengths: nil) }

    private func classify(_ tokens: Tensor, lengths: [Int]?) -> Tensor {
        precondition(tokens.rank == 2 && (tokens.dtype == .int64 || tokens.dtype == .int32),
                     "LSTMClassifier: expected int64 tokens [batch, length], found \(tokens.dtype) \(tokens.shape)")
        let embedded = embedding(tokens)
        // Without given lengths, counted with tensor operations so that the model compiles.
        let (_, state) = lengths.map { lstm(embedded, lengths: $0) }
            ?? lstm(embedded, lengths: (tokens .!= Double(paddingIndex)).cast(to: .int64).sum(axis: 1))
        // The last layer's final states: one, or forward and backward.
        let directions = lstm.bidirectional ? 2 : 1
        let last = state.h.narrow(axis: 0, start: state.h.shape[0] - directions, count: directions)
        let features = last.permuted(1, 0, 2).reshaped(to: [tokens.shape[0], directions * lstm.hiddenSize])
        return head(dropout(features))
    }
}
