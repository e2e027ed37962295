import XCTest
@testable import Ember

/// maskedFill, triu and tril against PyTorch (Fixtures/generate_core.py): values, and
/// gradients that reach the kept elements only; the triangular masks are constants of a trace.
final class MaskingTests: XCTestCase {
    /// A [4] mask broadcast over the rows of [3, 4]. Finite differences are skipped: sum(w * y)
    /// holds terms of 1e9, whose float64 rounding swamps a 1e-6 step; PyTorch's VJP still checks.
    func testMaskedFill() {
        checkAgainstTorch("masked_fill", finiteDifferences: false) { $0[0].maskedFill($0[1], with: -1e9) }
    }

    func testMaskedFillKeepsDType() {
        let x = Tensor([1, 2, 3] as [Int64]), mask = Tensor([true, false, true])
        let filled = x.maskedFill(mask, with: 7)
        XCTAssertEqual(filled.dtype, .int64)
        XCTAssertEqual(filled.doubles, [7, 2, 7])
    }

    func testTriangles() {
        checkAgainstTorch("triu_0") { $0[0].triu() }
        checkAgainstTorch("triu_1") { $0[0].triu(diagonal: 1) }
        checkAgainstTorch("tril_0") { $0[0].tril() }
        checkAgainstTorch("tril_m1") { $0[0].tril(diagonal: -1) }
        // Diagonals beyond the matrix keep everything or nothing.
        let x = coreFixtures.tensor("triu_0", "x0")
        assertClose(x.tril(diagonal: 3), x, atol: 0, rtol: 0)
        assertClose(x.triu(diagonal: 4), Tensor.zeros(x.shape), atol: 0, rtol: 0)
    }

    /// The mask comes from the shape alone: tracing reads no values.
    func testTraceAndVmap() {
        let graph = trace([TensorSpec([3, 4], .float32)]) { xs in [xs[0].triu(diagonal: 1).maskedFill(xs[0] .> 0, with: -1)] }
        XCTAssertTrue(graph.operations.contains { $0.primitive == .select }, "\(graph)")
        let x = coreFixtures.tensor("triu_0", "x0").cast(to: .float64)
        let f = { (xs: [Tensor]) in [xs[0].tril(diagonal: -1), xs[0].maskedFill(xs[0] .< 0, with: 0.5)] }
        for (b, l) in zip(vmap(f)([x]), VmapTests.loopAndStack(f, [x], inAxes: [0])) {
            assertClose(b, l, atol: 0, rtol: 0)
        }
    }
}
