import XCTest
@testable import Ember

/// Matrix products (oneDNN for float32, a loop for float64): 2-D, batched, broadcast
/// batches, 1-D operands, transposed and strided operands, and sizes that are not multiples
/// of any vector width. Small cases against PyTorch (Fixtures/generate_core.py), large ones
/// against a plain float64 triple loop.
final class LinearAlgebraTests: XCTestCase {
    /// float32 products of k terms: oneDNN may sum in any order, so about k * 2^-24 relative.
    let atol32 = 1e-5

    func testMatmul2D() { checkAgainstTorch("matmul_2d", atol: atol32) { matmul($0[0], $0[1]) } }
    func testBatched() { checkAgainstTorch("matmul_batched", atol: atol32) { matmul($0[0], $0[1]) } }

    /// [2, 1, 3, 4] @ [3, 4, 2] -> [2, 3, 3, 2]; gradients sum over the broadcast batch axes.
    func testBroadcastBatch() { checkAgainstTorch("matmul_broadcast", atol: atol32) { matmul($0[0], $0[1]) } }
    func testBatchedWithSharedRightOperand() { checkAgainstTorch("matmul_shared_rhs", atol: atol32) { $0[0].matmul($0[1]) } }

    /// NumPy's rules for 1-D operands: a row on the left, a column on the right, the added
    /// axis removed (vector @ vector is a scalar).
    func testVectorOperands() {
        checkAgainstTorch("matmul_vec_mat", atol: atol32) { matmul($0[0], $0[1]) }
        checkAgainstTorch("matmul_mat_vec", atol: atol32) { matmul($0[0], $0[1]) }
        checkAgainstTorch("matmul_vec_vec", atol: atol32) { matmul($0[0], $0[1]) }
        checkAgainstTorch("matmul_vec_batched", atol: atol32) { matmul($0[0], $0[1]) }
        checkAgainstTorch("matmul_batched_vec", atol: atol32) { matmul($0[0], $0[1]) }
        XCTAssertEqual(matmul(Tensor.ones([4]), Tensor.ones([4])).shape, [])
    }

    func testTransposedOperands() {
        checkAgainstTorch("matmul_transposed", atol: atol32) { matmul($0[0].transposed(), $0[1].transposed()) }
        checkAgainstTorch("matmul_batched_transposed", atol: atol32) { matmul($0[0].transposed(1, 2), $0[1]) }
    }

    func testShapeRules() {
        XCTAssertThrowsError(try Primitive.matmul.outputSpecs([TensorSpec([2, 3], .float32), TensorSpec([4, 5], .float32)])) { error in
            XCTAssertEqual("\(error)", "matmul: inner dimensions differ: [2, 3] @ [4, 5] (3 vs 4)")
        }
        XCTAssertThrowsError(try Primitive.matmul.outputSpecs([TensorSpec([2, 3], .int64), TensorSpec([3, 5], .int64)]))
        XCTAssertThrowsError(try Primitive.matmul.outputSpecs([TensorSpec([2, 2, 3], .float32), TensorSpec([3, 3, 5], .float32)]))
        XCTAssertEqual(matmul(Tensor.ones([3, 4], dtype: .float64), Tensor.ones([4, 2])).dtype, .float64, "operands are promoted")
    }

    // MARK: Larger sizes against a plain loop

    /// Values in [-1, 1) from a formula, the same in any language.
    func values(_ count: Int, seed: Int) -> [Double] {
        (0..<count).map { Double((($0 + seed) * 7919) % 1009) / 504.5 - 1 }
    }

    /// a [m, k] @ b [k, n], both row-major, summed in float64.
    func reference(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let av = a[i * k + p]
                for j in 0..<n { out[i * n + j] += av * b[p * n + j] }
            }
        }
        return out
    }

    /// 257 x 129 @ 129 x 65: odd sizes leave remainders in every blocked loop. float32 sums
    /// of 129 products of size <= 1 are held to 1e-4; float64 to 1e-12.
    func testLargeOddSizes() {
        let (m, k, n) = (257, 129, 65)
        let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
        let expected = reference(a, b, m: m, k: k, n: n)
        for (dtype, atol) in [(DType.float32, 1e-4), (.float64, 1e-12)] {
            let ta = Tensor(doubles: a, shape: [m, k], dtype: dtype), tb = Tensor(doubles: b, shape: [k, n], dtype: dtype)
            let product = matmul(ta, tb)
            XCTAssertEqual(product.dtype, dtype)
            assertClose(product, expected, atol: atol, rtol: 0, "\(dtype)")
            // The same product from transposed storage on both sides.
            let at = Tensor(doubles: a, shape: [m, k], dtype: dtype).transposed().contiguous().transposed()
            let bt = Tensor(doubles: b, shape: [k, n], dtype: dtype).transposed().contiguous().transposed()
            XCTAssertFalse(at.isContiguous || bt.isContiguous)
            assertClose(matmul(at, bt), expected, atol: atol, rtol: 0, "\(dtype), transposed operands")
        }
    }

    /// Operands whose layout oneDNN cannot read directly (columns with a step, a row with a
    /// step, a broadcast batch, a permuted batch) are handled like their dense copies.
    func testStridedAndBroadcastOperands() {
        let base = Tensor(doubles: values(6 * 10, seed: 3), shape: [6, 10], dtype: .float32)
        let w = Tensor(doubles: values(5 * 4, seed: 4), shape: [5, 4], dtype: .float32)
        let everyOther = base[TensorIndex.all, TensorIndex.stride(by: 2)]
        assertClose(matmul(everyOther, w), matmul(everyOther.contiguous(), w), atol: atol32, rtol: 0, "columns with a step")
        let row = base[0..<1, TensorIndex.stride(by: 2)]
        assertClose(matmul(row, w), matmul(row.contiguous(), w), atol: atol32, rtol: 0, "a row with a step")
        let left = Tensor(doubles: values(3 * 5, seed: 5), shape: [3, 5], dtype: .float32)
        let batch = Tensor(doubles: values(2 * 5 * 4, seed: 6), shape: [2, 5, 4], dtype: .float32)
        let broadcast = matmul(left.expanded(to: [2, 3, 5]), batch)
        assertClose(broadcast, matmul(left.expanded(to: [2, 3, 5]).contiguous(), batch), atol: atol32, rtol: 0, "an expanded batch")
        assertClose(matmul(left, batch), broadcast, atol: atol32, rtol: 0, "a missing batch axis")
        let permuted = Tensor(doubles: values(3 * 2 * 5, seed: 7), shape: [3, 2, 5], dtype: .float32).permuted(1, 0, 2)
        assertClose(matmul(permuted, w), matmul(permuted.contiguous(), w), atol: atol32, rtol: 0, "a permuted batch")
    }

    /// Attention's heads: [batch, length, heads, width] read as [batch, heads, length, width]
    /// has two batch axes that no single stride walks. oneDNN reads them in place (where its
    /// optimized matmul takes such strides); the products match a float64 loop over dense copies.
    func testHeadsSplitFromTheLastAxisAreReadInPlace() {
        let (batch, length, heads, width) = (2, 24, 3, 16)
        func splitHeads(seed: Int) -> Tensor {
            Tensor(doubles: values(batch * length * heads * width, seed: seed), shape: [batch, length, heads, width], dtype: .float32)
                .permuted(0, 2, 1, 3)
        }
        let q = splitHeads(seed: 10), k = splitHeads(seed: 11), v = splitHeads(seed: 12)
        let keysT = k.transposed(-1, -2)
        if MatmulKernel.readsStridedBatches {
            XCTAssertNotNil(MatmulKernel.stridedOperands(q, keysT, batchShape: [batch, heads]), "the heads are read uncopied")
        }
        let dense = { (x: Tensor) in x.cast(to: .float64).contiguous() }
        let scores = matmul(q, keysT)
        assertClose(scores, matmul(dense(q), dense(keysT)), atol: atol32, rtol: 0, "q kᵀ")
        let output = matmul(scores, v)
        assertClose(output, matmul(dense(scores), dense(v)), atol: 1e-4, rtol: 0, "scores v")
        // A size-1 batch axis among them, and the gradients (products of the transposed views).
        let one = q[0..<1], oneKeys = keysT[0..<1]
        assertClose(matmul(one, oneKeys), matmul(dense(one), dense(oneKeys)), atol: atol32, rtol: 0, "a size-1 batch axis")
        let squares = grad { (x: [Tensor]) in (matmul(x[0], x[1]) * matmul(x[0], x[1])).sum() }
        let got = squares([q, keysT]), expected = squares([dense(q), dense(keysT)])
        assertClose(got[0], expected[0], atol: 1e-3, rtol: 1e-5, "gradient of q")
        assertClose(got[1], expected[1], atol: 1e-3, rtol: 1e-5, "gradient of kᵀ")
    }

    /// Half types are multiplied in float32 and rounded once.
    func testHalfPrecisionOperands() {
        let a = Tensor(doubles: values(8 * 16, seed: 8), shape: [8, 16], dtype: .float32)
        let b = Tensor(doubles: values(16 * 4, seed: 9), shape: [16, 4], dtype: .float32)
        for (dtype, rounding) in [(DType.float16, 0x1p-11), (.bfloat16, 0x1p-8)] {
            let product = matmul(a.cast(to: dtype), b.cast(to: dtype))
            XCTAssertEqual(product.dtype, dtype)
            // Inputs rounded to the half type (16 terms of size <= 1), then the result.
            let exact = matmul(a.cast(to: dtype).cast(to: .float32), b.cast(to: dtype).cast(to: .float32))
            assertClose(product, exact, atol: 4 * rounding, rtol: rounding, "\(dtype)")
        }
    }
}
