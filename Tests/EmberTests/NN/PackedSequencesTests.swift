import XCTest
import Ember
import EmberNN

/// Padding-free packing: the index maps of a mask with right and left padding, a hole and an
/// empty row, and the padding-free transformer encoder against the padded one.
final class PackedSequencesTests: XCTestCase {
    /// Row 0: right padding; row 1: left padding with a hole (column 2); row 2: no token.
    private let mask = Tensor([1, 1, 1, 0, 0,
                               0, 1, 0, 1, 1,
                               0, 0, 0, 0, 0] as [Int64], shape: [3, 5])

    func testIndexMaps() {
        let packing = PackedSequences(attentionMask: mask, rowMultiple: 4, spanMultiple: 2)
        XCTAssertEqual(packing.tokenCount, 8, "6 real tokens rounded up to a multiple of 4")
        XCTAssertEqual(packing.sourceRows.scalars(as: Int64.self), [0, 1, 2, 6, 8, 9, 0, 0])
        XCTAssertEqual(packing.positions.scalars(as: Int64.self), [0, 1, 2, 1, 3, 4, 0, 0])
        // Row 1 spans columns 1...4: the hole at column 2 is an empty slot.
        XCTAssertEqual([packing.batch, packing.span], [3, 4])
        XCTAssertEqual(packing.slotMask.floats, [1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0])
        XCTAssertEqual(packing.slotRows.scalars(as: Int64.self), [0, 1, 2, 0, 3, 0, 4, 5, 0, 0, 0, 0])
        XCTAssertEqual(packing.rowSlots.scalars(as: Int64.self), [0, 1, 2, 4, 6, 7, 0, 0])
    }

    func testPackUnpackRegroupRoundTrip() {
        let packing = PackedSequences(attentionMask: mask, rowMultiple: 4, spanMultiple: 2)
        let x = Tensor.randomNormal([3, 5, 2], dtype: .float64)
        let packed = packing.pack(x)
        XCTAssertEqual(packed.shape, [8, 2])
        let keep = mask.cast(to: .float64).unsqueezed(axis: -1)
        assertClose(packing.unpack(packed), x * keep, atol: 0, rtol: 0, "real tokens back in place, zeros at padding")
        let grouped = packing.regroup(packed)
        XCTAssertEqual(grouped.shape, [3, 4, 2])
        assertClose(packing.ungroup(grouped).narrow(axis: 0, start: 0, count: 6), packed.narrow(axis: 0, start: 0, count: 6),
                    atol: 0, rtol: 0, "ungroup inverts regroup on the real tokens")
    }

    /// A traced (abstract) mask cannot be packed, and the index tensors pass through `compile`.
    func testPackingTensorsPassThroughCompile() {
        let packing = PackedSequences(attentionMask: mask)
        let x = Tensor.randomNormal([3, 5, 2])
        let f = compile { inputs in
            let packing = PackedSequences(tensors: Array(inputs.dropFirst()))
            return [packing.unpack(packing.ungroup(packing.regroup(packing.pack(inputs[0]))))]
        }
        assertClose(f([x] + packing.tensors)[0], packing.unpack(packing.pack(x)), atol: 0, rtol: 0)
    }

    /// The padding-free encoder gives the padded encoder's values on the real tokens, for both
    /// layouts, post- and pre-norm, with and without the causal mask, in eager and compiled calls.
    func testPaddingFreeEncoderMatchesPadded() {
        manualSeed(19)
        for (batchFirst, normFirst, isCausal) in [(true, false, false), (false, true, false), (true, true, true)] {
            let layer = TransformerEncoderLayer(dModel: 8, numHeads: 2, feedforward: 16, activation: .gelu,
                                                batchFirst: batchFirst, normFirst: normFirst, dtype: .float64)
            let encoder = TransformerEncoder(layer, numLayers: 2, norm: LayerNorm([8], dtype: .float64)).eval()
            let src = Tensor.randomNormal([3, 5, 8], dtype: .float64)
            let padded = encoder(batchFirst ? src : src.permuted(1, 0, 2), mask: nil, keyPaddingMask: mask .== 0, isCausal: isCausal)
            let expected = (batchFirst ? padded : padded.permuted(1, 0, 2)) * mask.cast(to: .float64).unsqueezed(axis: -1)
            let packing = PackedSequences(attentionMask: mask)
            let label = "batchFirst \(batchFirst), normFirst \(normFirst), causal \(isCausal)"
            assertClose(packing.unpack(encoder(packing.pack(src), packing: packing, isCausal: isCausal)), expected,
                        atol: 1e-12, rtol: 1e-12, label)
            let compiled = compile { inputs in
                let packing = PackedSequences(tensors: Array(inputs.dropFirst()))
                return [packing.unpack(encoder(packing.pack(inputs[0]), packing: packing, isCausal: isCausal))]
            }
            assertClose(compiled([src] + packing.tensors)[0], expected, atol: 1e-12, rtol: 1e-12, label + ", compiled")
        }
    }
}
