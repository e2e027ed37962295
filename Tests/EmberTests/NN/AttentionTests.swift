import XCTest
import Ember
@testable import EmberNN

/// Several outputs as one flat tensor, as the fixtures record them (generate_sequence_layers.py).
func flat(_ tensors: Tensor...) -> Tensor {
    Tensor.concatenate(tensors.map { $0.flattened() })
}

/// Multi-head attention and scaled dot-product attention against PyTorch (float64 modules,
/// so the tolerance is float64 rounding), with the settings of each case in the generator.
final class AttentionTests: XCTestCase {
    func mha(bias: Bool = true, batchFirst: Bool, dtype: DType = .float64) -> MultiHeadAttention {
        MultiHeadAttention(embedDim: 8, numHeads: 2, bias: bias, batchFirst: batchFirst, dtype: dtype)
    }

    func testSelfAttentionBatchFirstWithAveragedWeights() throws {
        let m = mha(batchFirst: true)
        try Fixtures("sequence_layers").checkModule("mha_self_batch_first", m, inputs: 1) { x in
            let (output, weights) = m(query: x[0], key: x[0], value: x[0])
            XCTAssertEqual(weights?.shape, [2, 5, 5])
            return flat(output, weights!)
        }
    }

    func testCrossAttentionSequenceFirstWithKeyPadding() throws {
        let m = mha(batchFirst: false)
        try Fixtures("sequence_layers").checkModule("mha_cross_seq_first_padding", m, inputs: 4) { x in
            let (output, weights) = m(query: x[0], key: x[1], value: x[2], keyPaddingMask: x[3], needWeights: false)
            XCTAssertNil(weights)
            return output
        }
    }

    func testFloatAttentionMaskAndPerHeadWeights() throws {
        let m = mha(batchFirst: true)
        try Fixtures("sequence_layers").checkModule("mha_float_mask_per_head_weights", m, inputs: 3) { x in
            let (output, weights) = m(query: x[0], key: x[0], value: x[0], keyPaddingMask: x[2], attentionMask: x[1],
                                      averageWeights: false)
            XCTAssertEqual(weights?.shape, [2, 2, 5, 5])
            return flat(output, weights!)
        }
    }

    func testBooleanMaskPerHeadSequenceFirst() throws {
        let m = mha(batchFirst: false)
        try Fixtures("sequence_layers").checkModule("mha_bool_mask_3d_seq_first", m, inputs: 2) { x in
            let (output, weights) = m(query: x[0], key: x[0], value: x[0], attentionMask: x[1])
            return flat(output, weights!)
        }
    }

    func testCausal() throws {
        let m = mha(batchFirst: true)
        try Fixtures("sequence_layers").checkModule("mha_causal", m, inputs: 1) { x in
            m(query: x[0], key: x[0], value: x[0], isCausal: true, needWeights: false).output
        }
    }

    func testWithoutBias() throws {
        let m = mha(bias: false, batchFirst: false)
        XCTAssertEqual(m.stateKeys(), ["in_proj_weight", "out_proj.weight"])
        try Fixtures("sequence_layers").checkModule("mha_no_bias", m, inputs: 1) { x in
            let (output, weights) = m(query: x[0], key: x[0], value: x[0])
            return flat(output, weights!)
        }
    }

    func testUnbatched() throws {
        let m = mha(batchFirst: false)
        try Fixtures("sequence_layers").checkModule("mha_unbatched", m, inputs: 2) { x in
            let (output, weights) = m(query: x[0], key: x[0], value: x[0], keyPaddingMask: x[1])
            XCTAssertEqual(output.shape, [5, 8])
            XCTAssertEqual(weights?.shape, [5, 5])
            return flat(output, weights!)
        }
    }

    /// A batch whose keys are all padding attends to nothing: zeros, as PyTorch's fused path.
    func testFullyMaskedQueriesGiveZeroAttention() throws {
        let m = mha(batchFirst: true)
        try Fixtures("sequence_layers").checkModule("mha_fully_masked", m, inputs: 2) { x in
            m(query: x[0], key: x[0], value: x[0], keyPaddingMask: x[1], needWeights: false).output
        }
    }

    /// float32 parameters and inputs against the float64 reference: float32 rounding of sums of
    /// a few dozen terms of order one.
    func testFloat32() throws {
        let m = mha(batchFirst: true, dtype: .float32)
        try Fixtures("sequence_layers").checkModule("mha_self_batch_first", m, inputs: 1, atol: 1e-5, rtol: 1e-4) { x in
            let x32 = x[0].cast(to: .float32)
            let (output, weights) = m(query: x32, key: x32, value: x32)
            XCTAssertEqual(output.dtype, .float32)
            return flat(output, weights!)
        }
    }

    func testDefaultInitialization() {
        let m = MultiHeadAttention(embedDim: 64, numHeads: 4)
        XCTAssertEqual(m.stateKeys(), ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        // Xavier-uniform over [3E, E]: bound √(6 / (E + 3E)).
        let bound = (6.0 / (64 + 3 * 64)).squareRoot()
        let weight = m.inProjWeight.doubles.map(abs)
        XCTAssertLessThanOrEqual(weight.max()!, bound)
        XCTAssertGreaterThan(weight.max()!, 0.95 * bound)
        XCTAssertEqual(m.inProjBias?.doubles, [Double](repeating: 0, count: 192))
        XCTAssertEqual(m.outProj.bias?.doubles, [Double](repeating: 0, count: 64))
        XCTAssertLessThanOrEqual(m.outProj.weight.doubles.map(abs).max()!, 1 / 8.0)
    }

    func testAttentionDropoutOnlyInTraining() {
        let m = MultiHeadAttention(embedDim: 8, numHeads: 2, dropout: 0.5, batchFirst: true, dtype: .float64)
        let x = randomDoubles([2, 5, 8], seed: 1)
        manualSeed(3)
        let trained = m(query: x, key: x, value: x).weights!
        m.eval()
        let evaluated = m(query: x, key: x, value: x).weights!
        // Averaged softmax rows sum to one; dropped and rescaled ones do not.
        assertClose(evaluated.sum(axis: -1), [Double](repeating: 1, count: 10), atol: 1e-12)
        XCTAssertGreaterThan((trained.sum(axis: -1) - 1).abs().max().item(), 0.01)
    }

    func testScaledDotProductAttentionBooleanMask() throws {
        try Fixtures("sequence_layers").checkModule("sdpa_bool_mask", Module(), inputs: 4) { x in
            scaledDotProductAttention(x[0], x[1], x[2], mask: x[3])
        }
    }

    func testScaledDotProductAttentionFloatMaskAndScale() throws {
        try Fixtures("sequence_layers").checkModule("sdpa_float_mask_scale", Module(), inputs: 4) { x in
            scaledDotProductAttention(x[0], x[1], x[2], mask: x[3], scale: 0.3)
        }
    }

    func testScaledDotProductAttentionCausal() throws {
        try Fixtures("sequence_layers").checkModule("sdpa_causal", Module(), inputs: 3) { x in
            scaledDotProductAttention(x[0], x[1], x[2], isCausal: true)
        }
    }
}
