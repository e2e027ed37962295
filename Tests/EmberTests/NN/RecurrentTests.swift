import XCTest
import Ember
@testable import EmberNN

/// LSTM, GRU and their cells against PyTorch (float64 modules). The fixtures' outputs are the
/// output sequence and the final states, flattened and concatenated (see `flat`).
final class RecurrentTests: XCTestCase {
    func testLSTMTwoLayersWithInitialState() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("lstm_two_layers_states", m, inputs: 3) { x in
            let (output, state) = m(x[0], state: (x[1], x[2]))
            XCTAssertEqual(output.shape, [5, 2, 4])
            XCTAssertEqual(state.h.shape, [2, 2, 4])
            return flat(output, state.h, state.c)
        }
    }

    /// Dropout between layers is off in evaluation mode.
    func testLSTMBidirectionalBatchFirst() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, dropout: 0.3, bidirectional: true,
                     dtype: .float64).eval()
        try Fixtures("sequence_layers").checkModule("lstm_bidirectional_batch_first", m, inputs: 1) { x in
            let (output, state) = m(x[0])
            XCTAssertEqual(output.shape, [2, 5, 8])
            XCTAssertEqual(state.c.shape, [4, 2, 4])
            return flat(output, state.h, state.c)
        }
    }

    func testLSTMWithoutBias() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, bias: false, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("lstm_no_bias", m, inputs: 1) { x in
            let (output, state) = m(x[0])
            return flat(output, state.h, state.c)
        }
    }

    func testLSTMUnbatched() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, bidirectional: true, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("lstm_unbatched", m, inputs: 3) { x in
            let (output, state) = m(x[0], state: (x[1], x[2]))
            XCTAssertEqual(output.shape, [5, 8])
            XCTAssertEqual(state.h.shape, [2, 4])
            return flat(output, state.h, state.c)
        }
    }

    func testGRUBidirectionalBatchFirstWithInitialState() throws {
        let m = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, bidirectional: true, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("gru_bidirectional_batch_first_state", m, inputs: 2) { x in
            let (output, hidden) = m(x[0], hidden: x[1])
            return flat(output, hidden)
        }
    }

    func testGRUWithoutBias() throws {
        let m = GRU(inputSize: 3, hiddenSize: 4, bias: false, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("gru_no_bias", m, inputs: 1) { x in
            let (output, hidden) = m(x[0])
            return flat(output, hidden)
        }
    }

    func testGRUUnbatched() throws {
        let m = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("gru_unbatched", m, inputs: 1) { x in
            let (output, hidden) = m(x[0])
            XCTAssertEqual(hidden.shape, [2, 4])
            return flat(output, hidden)
        }
    }

    func testLSTMCell() throws {
        let m = LSTMCell(inputSize: 3, hiddenSize: 4, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("lstm_cell", m, inputs: 3) { x in
            let (h, c) = m(x[0], state: (x[1], x[2]))
            return flat(h, c)
        }
        let unbatched = LSTMCell(inputSize: 3, hiddenSize: 4, bias: false, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("lstm_cell_unbatched", unbatched, inputs: 1) { x in
            let (h, c) = unbatched(x[0])
            return flat(h, c)
        }
    }

    func testGRUCell() throws {
        let m = GRUCell(inputSize: 3, hiddenSize: 4, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("gru_cell", m, inputs: 2) { x in m(x[0], hidden: x[1]) }
        let unbatched = GRUCell(inputSize: 3, hiddenSize: 4, dtype: .float64)
        try Fixtures("sequence_layers").checkModule("gru_cell_unbatched", unbatched, inputs: 1) { x in unbatched(x[0]) }
    }

    func testFloat32() throws {
        let m = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dtype: .float32)
        try Fixtures("sequence_layers").checkModule("lstm_two_layers_states", m, inputs: 3, atol: 1e-5, rtol: 1e-4) { x in
            let (output, state) = m(x[0].cast(to: .float32), state: (x[1].cast(to: .float32), x[2].cast(to: .float32)))
            XCTAssertEqual(output.dtype, .float32)
            return flat(output, state.h, state.c)
        }
    }

    /// PyTorch's order: per layer, per direction, weight_ih, weight_hh, bias_ih, bias_hh.
    func testStateKeysInPyTorchOrder() {
        let m = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true)
        let keys = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                    "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                    "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
                    "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"]
        XCTAssertEqual(m.stateKeys(), keys)
        XCTAssertEqual(m.stateDict()["weight_ih_l1"]?.shape, [12, 8])
    }

    /// Every weight uniform in ±1/√hidden, as PyTorch's.
    func testDefaultInitialization() {
        let bound = 1 / 8.0
        for module in [LSTM(inputSize: 32, hiddenSize: 64), GRU(inputSize: 32, hiddenSize: 64),
                       LSTMCell(inputSize: 32, hiddenSize: 64), GRUCell(inputSize: 32, hiddenSize: 64)] as [Module] {
            for (key, p) in module.namedParameters() {
                let values = p.doubles
                XCTAssertLessThanOrEqual(values.map(abs).max()!, bound, "\(module.typeName) \(key)")
                XCTAssertGreaterThan(values.map(abs).max()!, 0.95 * bound, "\(module.typeName) \(key)")
                // The variance of U(-b, b) is b²/3.
                let variance = values.reduce(0) { $0 + $1 * $1 } / Double(values.count)
                XCTAssertEqual(variance, bound * bound / 3, accuracy: 0.2 * bound * bound / 3, "\(module.typeName) \(key)")
            }
        }
    }

    func testDropoutBetweenLayersOnlyInTraining() {
        let m = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.5, dtype: .float64)
        let x = randomDoubles([5, 2, 3], seed: 4)
        manualSeed(0)
        let first = m(x).output, second = m(x).output
        XCTAssertGreaterThan((first - second).abs().max().item(), 1e-3)
        m.eval()
        assertClose(m(x).output, m(x).output, atol: 0, rtol: 0)
    }

    /// The functional form: `withState` swaps the runtime-registered weights too.
    func testWithStateReplacesRegisteredWeights() {
        let m = GRU(inputSize: 3, hiddenSize: 4, bias: false, dtype: .float64)
        let x = randomDoubles([5, 2, 3], seed: 5)
        let zero = Tensor.zeros([12, 4], dtype: .float64)
        let replaced = m.withState(["weight_hh_l0": zero]) { m(x).output }
        let reference = noGrad { () -> Tensor in
            let saved = m.stateDict()["weight_hh_l0"]!.contiguous().doubles
            m.stateDict()["weight_hh_l0"]!.assign(zero)
            defer { m.stateDict()["weight_hh_l0"]!.assign(Tensor(doubles: saved, shape: [12, 4], dtype: .float64)) }
            return m(x).output
        }
        assertClose(replaced, reference, atol: 0, rtol: 0)
        XCTAssertGreaterThan((m(x).output - replaced).abs().max().item(), 1e-6)
    }
}
