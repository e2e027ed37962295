import XCTest
@testable import Ember

/// einsum against torch.einsum (Fixtures/generate_core.py: values, VJPs and float64 finite
/// differences), its lowering (a batched contraction is one matmul) and einsum under
/// compile, vmap and jvp.
final class EinsumTests: XCTestCase {
    /// float32 products of a few terms: oneDNN may sum in any order, as in LinearAlgebraTests.
    let atol32 = 1e-5

    func check(_ name: String, _ equation: String, file: StaticString = #filePath, line: UInt = #line) {
        checkAgainstTorch(name, atol: atol32, file: file, line: line) { einsum(equation, $0) }
    }

    /// The fixture's float64 inputs of case `name`.
    func inputs(_ name: String) -> [Tensor] {
        (0...).prefix { coreFixtures.has(name, "x\($0)") }.map { coreFixtures.tensor(name, "x\($0)").cast(to: .float64) }
    }

    func testContractions() {
        check("einsum_matmul", "ij,jk->ik")
        check("einsum_batched", "bij,bjk->bik")
        check("einsum_attention_scores", "nqhd,nkhd->nhqk")
        check("einsum_attention_values", "nhql,nlhd->nqhd")
        check("einsum_outer", "i,j->ij")
    }

    /// Without "->" the output holds the indices that appear once, in alphabetical order.
    func testImplicitOutput() {
        check("einsum_implicit", "ij,kj")
        check("einsum_trace", "ii")
        let x = inputs("einsum_matmul")[0]
        // Upper case sorts before lower case, as in PyTorch.
        assertClose(einsum("aB", x), x.transposed(), atol: 0, rtol: 0)
    }

    func testDiagonalsAndSums() {
        check("einsum_diagonal", "ii->i")
        check("einsum_partial_diagonal", "iij->ji")
        check("einsum_sum", "ijk->j")
    }

    /// "..." broadcasts: batch axes [2, 1] and [5] give [2, 5].
    func testEllipsis() {
        check("einsum_ellipsis", "...ij,...jk->...ik")
        let x = inputs("einsum_sum")[0]
        // An explicit output without "..." sums the broadcast axes, as PyTorch does.
        assertClose(einsum("...k->k", x), x.sum(axes: [0, 1]), atol: 1e-12, rtol: 0)
    }

    /// Three operands are contracted pairwise from the left.
    func testThreeOperands() {
        check("einsum_three", "ij,jk,kl->il")
        check("einsum_bilinear", "bn,anm,bm->ba")
    }

    func testSpacesAndArrayOverload() {
        let xs = inputs("einsum_matmul")
        assertClose(einsum(" ij , jk -> ik ", xs), matmul(xs[0], xs[1]), atol: 0, rtol: 0)
    }

    /// A batched contraction is one batched matmul: batch axes in front, the contracted axes
    /// merged into one, each side's free axes merged into one.
    func testBatchedContractionIsOneMatmul() {
        let batched = trace([TensorSpec([2, 3, 4], .float32), TensorSpec([2, 4, 5], .float32)]) { xs in
            [einsum("bij,bjk->bik", xs[0], xs[1])]
        }
        XCTAssertEqual(batched.operations.map(\.primitive), [.matmul], "\(batched)")
        let scores = trace([TensorSpec([2, 3, 2, 4], .float32), TensorSpec([2, 5, 2, 4], .float32)]) { xs in
            [einsum("nqhd,nkhd->nhqk", xs[0], xs[1])]
        }
        XCTAssertEqual(scores.operations.filter { $0.primitive == .matmul }.count, 1, "\(scores)")
        let merged = trace([TensorSpec([2, 3, 4, 5], .float32), TensorSpec([4, 5, 6], .float32)]) { xs in
            [einsum("bijk,jkl->bil", xs[0], xs[1])]
        }
        XCTAssertEqual(merged.operations.filter { $0.primitive == .matmul }.count, 1, "\(merged)")
        XCTAssertEqual(merged.specs[merged.outputs[0]], TensorSpec([2, 3, 6], .float32))
    }

    // MARK: Transforms

    func testCompileMatchesEager() {
        let xs = inputs("einsum_attention_scores")
        let eager = { (xs: [Tensor]) in [einsum("nqhd,nkhd->nhqk", xs[0], xs[1]).softmax(axis: -1), einsum("ii", xs[0][0, 0..<2, 0, 0..<2])] }
        let compiled = compile(eager)
        for (c, e) in zip(compiled(xs), eager(xs)) { assertClose(c, e, atol: 1e-12, rtol: 1e-12) }
    }

    /// vmap of an einsum written for one example equals the loop over examples.
    func testVmapMatchesLoop() {
        let xs = inputs("einsum_attention_scores")
        let f = { (ys: [Tensor]) in [einsum("qhd,khd->hqk", ys[0], ys[1]), einsum("qhd,qhd->q", ys[0], ys[0])] }
        let batched = vmap(f)(xs), looped = VmapTests.loopAndStack(f, xs, inAxes: [0, 0])
        for (b, l) in zip(batched, looped) { assertClose(b, l, atol: 1e-12, rtol: 1e-12) }
        // One argument shared by every example; a diagonal of each example.
        let shared = inputs("einsum_batched")
        let g = { (ys: [Tensor]) in [einsum("ij,jk->ik", ys[0], ys[1]), einsum("ii->i", ys[0][0..., 0..<3])] }
        let batchedShared = vmap(g, inAxes: [0, nil])([shared[0], shared[1][0]])
        for (b, l) in zip(batchedShared, VmapTests.loopAndStack(g, [shared[0], shared[1][0]], inAxes: [0, nil])) {
            assertClose(b, l, atol: 1e-12, rtol: 1e-12)
        }
    }

    /// einsum is linear in each operand, so its tangent is the sum of einsums with one
    /// operand replaced by its tangent.
    func testJVPIsSumOfOneTangentTerms() {
        let xs = inputs("einsum_bilinear"), ts = xs.map { $0.cos() }
        let equation = "bn,anm,bm->ba"
        let (output, tangents) = jvp({ [einsum(equation, $0)] }, primals: xs, tangents: ts)
        assertClose(output[0], einsum(equation, xs), atol: 0, rtol: 0)
        let expected = einsum(equation, ts[0], xs[1], xs[2]) + einsum(equation, xs[0], ts[1], xs[2])
            + einsum(equation, xs[0], xs[1], ts[2])
        assertClose(tangents[0], expected, atol: 1e-12, rtol: 1e-12)
    }
}
