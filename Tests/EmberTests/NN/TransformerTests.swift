import XCTest
import Ember
@testable import EmberNN

/// Transformer encoder layers and stacks against PyTorch (float64 modules), with the settings
/// of each case in generate_sequence_layers.py.
final class TransformerTests: XCTestCase {
    func layer(dropout: Double = 0.1, activation: TransformerActivation = .relu, batchFirst: Bool = false,
               normFirst: Bool = false, bias: Bool = true, dtype: DType = .float64) -> TransformerEncoderLayer {
        TransformerEncoderLayer(dModel: 8, numHeads: 2, feedforward: 16, dropout: dropout, activation: activation,
                                batchFirst: batchFirst, normFirst: normFirst, bias: bias, dtype: dtype)
    }

    func testPostNormReluWithKeyPadding() throws {
        let m = layer().eval()
        try Fixtures("sequence_layers").checkModule("encoder_post_relu_eval", m, inputs: 2) { x in
            m(x[0], mask: nil, keyPaddingMask: x[1])
        }
    }

    func testPreNormGeluCausal() throws {
        let m = layer(activation: .gelu, batchFirst: true, normFirst: true).eval()
        try Fixtures("sequence_layers").checkModule("encoder_pre_gelu_causal_eval", m, inputs: 2) { x in
            m(x[0], mask: x[1], isCausal: true)
        }
    }

    /// Training mode with dropout 0 is deterministic and equals PyTorch's.
    func testTrainingModeWithoutDropout() throws {
        let m = layer(dropout: 0, batchFirst: true)
        XCTAssertTrue(m.isTraining)
        try Fixtures("sequence_layers").checkModule("encoder_train_dropout0", m, inputs: 1) { x in m(x[0]) }
    }

    func testPreNormWithoutBias() throws {
        let m = layer(normFirst: true, bias: false).eval()
        try Fixtures("sequence_layers").checkModule("encoder_pre_no_bias", m, inputs: 1) { x in m(x[0]) }
    }

    func testStackWithFinalNorm() throws {
        let m = TransformerEncoder(layer(activation: .gelu, batchFirst: true, normFirst: true), numLayers: 2,
                                   norm: LayerNorm([8], dtype: .float64)).eval()
        try Fixtures("sequence_layers").checkModule("encoder_stack_final_norm", m, inputs: 2) { x in
            m(x[0], mask: nil, keyPaddingMask: x[1])
        }
    }

    func testFloat32() throws {
        let m = layer(activation: .gelu, batchFirst: true, normFirst: true, dtype: .float32).eval()
        try Fixtures("sequence_layers").checkModule("encoder_pre_gelu_causal_eval", m, inputs: 2, atol: 1e-4, rtol: 1e-4) { x in
            m(x[0].cast(to: .float32), mask: x[1], isCausal: true)
        }
    }

    /// The stack holds equal but separate copies of the layer, in its mode.
    func testStackCopiesTheLayer() {
        let prototype = layer().eval()
        let stack = TransformerEncoder(prototype, numLayers: 3)
        XCTAssertEqual(stack.stateKeys().filter { $0.hasPrefix("layers.2.") }.count, prototype.stateKeys().count)
        for copy in stack.layers {
            XCTAssertFalse(copy.isTraining)
            for (a, b) in zip(copy.parameters(), prototype.parameters()) {
                XCTAssertFalse(a === b)
                XCTAssertEqual(a.doubles, b.doubles)
            }
        }
    }

    func testDropoutOnlyInTraining() {
        let m = layer(dropout: 0.5, batchFirst: true)
        let x = randomDoubles([2, 5, 8], seed: 2)
        manualSeed(1)
        let first = m(x)
        let second = m(x)
        XCTAssertGreaterThan((first - second).abs().max().item(), 1e-3)
        m.eval()
        assertClose(m(x), m(x), atol: 0, rtol: 0)
    }

    func testSummaryListsSublayers() {
        let m = TransformerEncoder(layer(batchFirst: true), numLayers: 2)
        let text = m.summary(input: randomDoubles([1, 4, 8], seed: 3))
        XCTAssert(text.contains("layers.1.self_attn (MultiHeadAttention)"), text)
        XCTAssert(text.contains("layers.0.linear2 (Linear)"), text)
        XCTAssertEqual(text.components(separatedBy: "(TransformerEncoderLayer)").count - 1, 2, text)
    }
}
