import XCTest
import Ember
@testable import EmberModels
@testable import EmberNN

/// The LSTM classifier against PyTorch's nn.LSTM run on pack_padded_sequence
/// (Fixtures/generate_zoo.py), and the per-sequence lengths of LSTM and GRU it relies on.
final class LSTMClassifierTests: XCTestCase {
    /// Two bidirectional layers; lengths 6, 3 and 4 read from the padding (id 0), unsorted.
    func testBidirectionalClassifierMatchesPackedPyTorch() throws {
        try Zoo.check("lstm_classifier_bidirectional", inputs: 1, {
            LSTMClassifier(vocabularySize: 10, classes: 3, embeddingSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true,
                           dtype: $0)
        }) { m, x in m(x[0]) }
    }

    /// Lengths given explicitly, over tokens that hold no padding id.
    func testClassifierTakesExplicitLengths() throws {
        try Zoo.check("lstm_classifier_lengths", inputs: 2, {
            LSTMClassifier(vocabularySize: 10, classes: 3, embeddingSize: 4, hiddenSize: 5, dtype: $0)
        }) { m, x in m(x[0], lengths: x[1].doubles.map { Int($0) }) }
    }

    /// What padding holds does not matter: more of it, or other ids under explicit lengths.
    func testPaddingDoesNotChangeTheLogits() {
        manualSeed(4)
        let model = LSTMClassifier(vocabularySize: 10, classes: 3, embeddingSize: 4, hiddenSize: 5, numLayers: 2,
                                   bidirectional: true, dtype: .float64)
        let tokens = Tensor([[3, 1, 4, 0], [2, 6, 0, 0]] as [[Int64]])
        let longer = Tensor([[3, 1, 4, 0, 0, 0], [2, 6, 0, 0, 0, 0]] as [[Int64]])
        let noisy = Tensor([[3, 1, 4, 7, 7], [2, 6, 9, 8, 1]] as [[Int64]])
        let logits = model(tokens)
        let layer: any Layer = model
        assertClose(layer(longer), logits, atol: 1e-12, rtol: 1e-12)
        assertClose(model(noisy, lengths: [3, 2]), logits, atol: 1e-12, rtol: 1e-12)
    }

    func testClassifierTrains() {
        manualSeed(8)
        let model = LSTMClassifier(vocabularySize: 6, classes: 2, embeddingSize: 8, hiddenSize: 8, bidirectional: true)
        let tokens = Tensor([[1, 2, 0, 0], [3, 4, 5, 0], [1, 1, 2, 0], [4, 5, 0, 0]] as [[Int64]])
        let (before, after) = lossBeforeAndAfterTraining(model, tokens, Tensor([0, 1, 0, 1] as [Int64]))
        XCTAssertLessThan(after, before / 10)
    }

    // MARK: Packed sequences in EmberNN's LSTM and GRU

    /// Output (zeros past each length, as pad_packed_sequence), final hidden and cell states,
    /// for lengths 5, 2 and 4 over two bidirectional layers.
    func testLSTMWithLengthsMatchesPackedSequence() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, bidirectional: true, dtype: .float64)
        try Zoo.load().checkModule("lstm_packed", m, inputs: 1) { x in
            let (output, state) = m(x[0], lengths: [5, 2, 4])
            return Tensor.concatenate([output.flattened(), state.h.flattened(), state.c.flattened()])
        }
    }

    func testGRUWithLengthsMatchesPackedSequence() throws {
        let m = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, bidirectional: true, dtype: .float64)
        try Zoo.load().checkModule("gru_packed", m, inputs: 1) { x in
            let (output, hidden) = m(x[0], lengths: [5, 2, 4])
            return Tensor.concatenate([output.flattened(), hidden.flattened()])
        }
    }
}
