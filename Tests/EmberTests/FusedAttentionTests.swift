import XCTest
@testable import Ember

/// The fused attention primitive against its unfused formula (matmul, masked softmax,
/// matmul; itself checked against PyTorch in NN/AttentionTests), against float64 finite
/// differences, and under every transform (the conformance suite's `checkTransforms`).
/// Sizes cross the kernels' query and key blocks (64 and 128) with partial blocks.
final class FusedAttentionTests: XCTestCase {
    /// One configuration: the primitive's inputs and how it is called.
    struct Case {
        var name: String
        var q: Tensor, k: Tensor, v: Tensor
        var mask: Tensor?
        var isCausal = false
        var scale: Double?

        var inputs: [Tensor] { [q, k, v] + (mask.map { [$0] } ?? []) }
        var config: AttentionConfig {
            AttentionConfig(scale: scale ?? 1 / Double(q.shape.last!).squareRoot(), isCausal: isCausal,
                            mask: mask.map { $0.dtype == .bool ? .boolean : .additive } ?? .none)
        }
        func fused(_ x: [Tensor]) -> Tensor {
            scaledDotProductAttention(x[0], x[1], x[2], mask: x.count > 3 ? x[3] : nil, isCausal: isCausal, scale: scale,
                                      kernel: .fused)
        }
        func unfused(_ x: [Tensor]) -> Tensor { Attention.unfused(config, x)[0] }
    }

    /// `automatic` keeps the unfused formula (oneDNN's matmuls) where the scores are small
    /// and fuses where holding them would cost more than `fusedScoreBytes`.
    func testAutomaticKernelFusesOnlyLargeScores() {
        XCTAssertFalse(Attention.fuses(.automatic, [8, 8, 128, 64], [8, 8, 128, 64]), "W6's 4 MiB of scores")
        XCTAssertFalse(Attention.fuses(.automatic, [32, 12, 128, 32], [32, 12, 128, 32]), "W7's 24 MiB")
        XCTAssertTrue(Attention.fuses(.automatic, [1, 1, 8192, 64], [1, 1, 8192, 64]), "256 MiB")
        XCTAssertTrue(Attention.fuses(.automatic, [4, 1, 2048, 64], [1, 16, 2048, 64]), "broadcast heads: 256 MiB")
        XCTAssertTrue(Attention.fuses(.fused, [2, 3], [2, 3]))
        XCTAssertFalse(Attention.fuses(.math, [1, 1, 8192, 64], [1, 1, 8192, 64]))
    }

    static func normal(_ shape: [Int], _ seed: UInt64, dtype: DType = .float64) -> Tensor {
        Tensor.randomNormal(shape, dtype: .float64, source: .key(Key(seed))).cast(to: dtype)
    }

    /// Key padding [batch, 1, 1, S]: example b hides its last b·3 keys; the last example hides all
    /// of them, so its rows see no key (zeros, as PyTorch's kernels).
    static func keyPadding(batch: Int, keys: Int) -> Tensor {
        let visible = (0..<batch).flatMap { b in (0..<keys).map { j in b == batch - 1 ? 0.0 : (j < keys - 3 * b ? 1.0 : 0.0) } }
        return Tensor(doubles: visible, shape: [batch, 1, 1, keys], dtype: .float64) .> 0.5
    }

    static func cases(dtype: DType = .float64, large: Bool = true) -> [Case] {
        let (l, s) = large ? (150, 300) : (5, 7)
        func n(_ shape: [Int], _ seed: UInt64) -> Tensor { normal(shape, seed, dtype: dtype) }
        return [
            Case(name: "plain", q: n([2, 2, l, 8], 1), k: n([2, 2, s, 8], 2), v: n([2, 2, s, 8], 3)),
            Case(name: "key padding, value width 5, shared keys", q: n([3, 2, l, 4], 4), k: n([1, 2, s, 4], 5), v: n([2, s, 5], 6),
                 mask: keyPadding(batch: 3, keys: s)),
            Case(name: "additive [L, S] mask and scale", q: n([2, l, 6], 7), k: n([2, s, 6], 8), v: n([2, s, 6], 9),
                 mask: n([l, s], 10), scale: 0.3),
            Case(name: "causal, L < S", q: n([2, l, 8], 11), k: n([2, s, 8], 12), v: n([2, s, 8], 13), isCausal: true),
            Case(name: "causal, L > S, with padding", q: n([2, 2, s, 4], 14), k: n([2, 2, l, 4], 15), v: n([2, 2, l, 4], 16),
                 mask: keyPadding(batch: 2, keys: l), isCausal: true),
            // Heads split from [batch, length, heads, E] as views (strided rows), as the layers do.
            Case(name: "strided views", q: n([2, l, 2, 8], 17).permuted(0, 2, 1, 3), k: n([2, s, 2, 8], 18).permuted(0, 2, 1, 3),
                 v: n([2, s, 2, 8], 19).permuted(0, 2, 1, 3)),
        ]
    }

    func testForwardMatchesTheUnfusedFormula() {
        for c in Self.cases() {
            let fused = Dispatch.run(.attention(c.config), c.inputs), reference = Attention.unfused(c.config, c.inputs)
            assertClose(fused[0], reference[0], atol: 1e-12, rtol: 1e-12, "\(c.name): output")
            // -inf rows compare equal; nan would not.
            assertClose(fused[1], reference[1], atol: 1e-12, rtol: 1e-12, "\(c.name): logsumexp")
        }
        for c in Self.cases(dtype: .float32) {
            assertClose(c.fused(c.inputs), c.unfused(c.inputs), atol: 2e-6, rtol: 1e-5, "\(c.name): float32 output")
        }
        // The example whose keys are all hidden gives zeros.
        let padded = Self.cases()[1]
        XCTAssertEqual(padded.fused(padded.inputs)[2].abs().max().item(), 0)
    }

    func testGradientsMatchTheUnfusedFormulaAndFiniteDifferences() {
        for c in Self.cases() {
            assertGradientsMatchFormulaAndFiniteDifferences(
                c.fused, reference: c.unfused, inputs: c.inputs, wrt: c.config.mask == .additive ? [0, 1, 2, 3] : [0, 1, 2],
                weight: Self.normal(c.fused(c.inputs).shape, 20), direction: { Self.normal(c.inputs[$0].shape, 30 + UInt64($0)) },
                atol: 1e-11, rtol: 1e-10, finiteDifferences: 1e-6, c.name)
        }
    }

    /// compile equals eager, vmap equals a loop (each input batched alone and all together),
    /// jvp agrees with vjp, grad through a trace replay equals eager grad.
    func testTransforms() {
        for c in Self.cases(large: false) {
            let w = Self.normal(c.fused(c.inputs).shape, 21)
            checkTransforms("attention \(c.name)", c.fused, inputs: c.inputs, cotangent: w,
                            wrt: c.config.mask == .additive ? [0, 1, 2, 3] : [0, 1, 2])
        }
    }

    /// Second derivatives run through the formula: grad of grad and jvp of grad (a
    /// Hessian-vector product) equal the unfused formula's.
    func testHigherDerivatives() {
        let c = Self.cases(large: false)[3]
        let w = Self.normal(c.fused(c.inputs).shape, 22)
        func gradNorm(_ f: @escaping ([Tensor]) -> Tensor) -> ([Tensor]) -> Tensor {
            { x in
                let g = grad({ (f($0) * w).sum() })(x)
                return g.map { ($0 * $0).sum() }.reduce(Tensor.scalar(0, dtype: .float64), +)
            }
        }
        let x = Array(c.inputs.prefix(3))
        let fusedSecond = grad(gradNorm(c.fused))(x), referenceSecond = grad(gradNorm(c.unfused))(x)
        for k in 0..<3 { assertClose(fusedSecond[k], referenceSecond[k], atol: 1e-10, rtol: 1e-9, "grad of grad, input \(k)") }
        let tangents = x.enumerated().map { Self.normal($1.shape, 40 + UInt64($0)) }
        let fusedHVP = jvp({ grad({ (c.fused($0) * w).sum() })($0) }, primals: x, tangents: tangents).tangents
        let referenceHVP = jvp({ grad({ (c.unfused($0) * w).sum() })($0) }, primals: x, tangents: tangents).tangents
        for k in 0..<3 { assertClose(fusedHVP[k], referenceHVP[k], atol: 1e-10, rtol: 1e-9, "jvp of grad, input \(k)") }
    }

    /// The backward primitive's own forward-mode and batching rules (used by jvp and vmap of grad).
    func testBackwardPrimitiveUnderJVPAndVmap() {
        let c = Self.cases(large: false)[1]
        let w = Self.normal(c.fused(c.inputs).shape, 23)
        let perExample = vmap({ x in grad({ (c.fused($0 + [c.mask!]) * w).sum() })(x) }, inAxes: [0, 0, 0])
        let batched = [c.q, c.k.expanded(to: [3, 2, 7, 4]), c.v.expanded(to: [3, 2, 7, 5])].map { Tensor.stack([$0, $0 * 0.5], axis: 0) }
        let results = perExample(batched)
        for example in 0..<2 {
            let x = batched.map { $0[example] }
            let expected = vjp({ c.unfused([$0[0], $0[1], $0[2], c.mask!]) }, x).pullback(w)
            for k in 0..<3 { assertClose(results[k][example], expected[k], atol: 1e-11, rtol: 1e-10, "vmap of grad, input \(k)") }
        }
    }

    func testHalfPrecisionComputesInFloat32() {
        let c = Self.cases(dtype: .float32, large: false)[3]
        let half = c.fused(c.inputs.map { $0.cast(to: .bfloat16) })
        XCTAssertEqual(half.dtype, .bfloat16)
        let widened = c.fused(c.inputs.map { $0.cast(to: .bfloat16).cast(to: .float32) })
        assertClose(half.cast(to: .float32), widened, atol: 1e-2, rtol: 1e-2)
    }

    func testShapeErrors() {
        let config = AttentionConfig(scale: 1, mask: .boolean)
        let q = TensorSpec([2, 5, 4], .float32), k = TensorSpec([2, 7, 4], .float32)
        assertShapeError(.attention(config), [q, k, k, TensorSpec([5, 6], .bool)], mentions: ["attention", "[5, 6]", "does not broadcast"])
        assertShapeError(.attention(config), [q, k, k, TensorSpec([5, 7], .float32)], mentions: ["bool mask", "float32"])
        assertShapeError(.attention(AttentionConfig(scale: 1)), [q, TensorSpec([2, 7, 3], .float32), k],
                         mentions: ["key [..., S, 4]"])
        assertShapeError(.attention(AttentionConfig(scale: 1)), [q, TensorSpec([3, 7, 4], .float32), k], mentions: ["do not broadcast"])
    }
}
