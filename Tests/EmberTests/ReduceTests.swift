import XCTest
@testable import Ember

/// Reductions (sum, prod, max, min, argmax, argmin) and the composites on them (mean,
/// variance, standard deviation, logsumexp, softmax, log-softmax). References: PyTorch
/// (Fixtures/generate_core.py) on a [2, 3, 4] input; float32 sums of a few dozen terms are
/// held to 1e-5, float64 to 1e-12 (see `checkAgainstTorch`).
final class ReduceTests: XCTestCase {
    // MARK: Sum and mean

    func testSumOverOneAxis() { checkAgainstTorch("sum_1", atol: 1e-5) { $0[0].sum(axis: 1) } }
    func testSumOverNonAdjacentAxes() { checkAgainstTorch("sum_02", atol: 1e-5) { $0[0].sum(axes: [0, 2]) } }
    func testSumOfAll() { checkAgainstTorch("sum_all", atol: 1e-5) { $0[0].sum() } }
    func testSumKeepingDims() { checkAgainstTorch("sum_1_keep", atol: 1e-5) { $0[0].sum(axis: 1, keepDims: true) } }
    func testMeanKeepingDims() { checkAgainstTorch("mean_02_keep", atol: 1e-5) { $0[0].mean(axes: [0, -1], keepDims: true) } }
    func testMeanOfAll() { checkAgainstTorch("mean_all", atol: 1e-5) { $0[0].mean() } }

    func testShapesOfReductions() {
        let x = Tensor.zeros([2, 3, 4])
        XCTAssertEqual(x.sum(axis: 1).shape, [2, 4])
        XCTAssertEqual(x.sum(axes: [0, 2], keepDims: true).shape, [1, 3, 1])
        XCTAssertEqual(x.sum().shape, [])
        XCTAssertEqual(x.max(axis: -1).shape, [2, 3])
        XCTAssertEqual(x.argmax(axis: 1, keepDims: true).shape, [2, 1, 4])
        XCTAssertEqual(x.argmax().shape, [])
        XCTAssertThrowsError(try Primitive.reduce(.sum, axes: [3], keepDims: false).outputSpecs([TensorSpec([2, 3, 4], .float32)])) { error in
            XCTAssertEqual("\(error)", "sum: axis 3 is out of range for a tensor of rank 3")
        }
        XCTAssertThrowsError(try Primitive.reduce(.max, axes: [0], keepDims: false).outputSpecs([TensorSpec([0, 2], .float32)]))
    }

    /// Integers and bools sum to int64 exactly (as PyTorch); max and min keep the dtype.
    func testIntegerAndBoolReductions() {
        let ints = Tensor([2_000_000_000, 2_000_000_000, -7] as [Int32])
        XCTAssertEqual(ints.sum().dtype, .int64)
        XCTAssertEqual(ints.sum().item(), 3_999_999_993)
        XCTAssertEqual(ints.max().dtype, .int32)
        XCTAssertEqual(ints.min().item(), -7)
        XCTAssertEqual(Tensor([3, -2, 5] as [Int64]).prod().item(), -30)
        let mask = Tensor([true, false, true, true])
        XCTAssertEqual(mask.sum().dtype, .int64)
        XCTAssertEqual(mask.sum().item(), 3)
        XCTAssertEqual(Tensor([1, 5, 5, 2] as [Int64]).argmax().item(), 1)
    }

    /// Over an empty axis a sum is 0 and a product 1; a maximum is an error.
    func testEmptyReductions() {
        let empty = Tensor.zeros([3, 0])
        XCTAssertEqual(empty.sum(axis: 1).doubles, [0, 0, 0])
        XCTAssertEqual(empty.prod(axis: 1).doubles, [1, 1, 1])
        XCTAssertEqual(empty.sum(axis: 0).shape, [0])
    }

    // MARK: Product

    /// Rows of [[1.5, 2, -0.5, 3], [0, 2, 1.5, -1], [0, 2, 0, 1], [2, 0.5, 1.25, 0.75]] with
    /// no zero, one zero and two zeros: the gradient is prod / x_i without zeros, the product
    /// of the others at a single zero, and 0 everywhere with two zeros (no division by zero).
    func testProdGradientsWithZeros() {
        checkAgainstTorch("prod_1") { $0[0].prod(axis: 1) }
        checkAgainstTorch("prod_all") { $0[0].prod() }
        checkAgainstTorch("prod_02", atol: 1e-5) { $0[0].prod(axes: [0, 2]) }
        let x = Tensor([[2, 0, 3], [0, 0, 5]] as [[Double]])
        assertClose(grad { $0.prod(axis: 1).sum() }(x), [0, 6, 0, 0, 0, 0], atol: 0, rtol: 0)
    }

    // MARK: Max, min and their indices

    /// Rows [1, 3, 3, 2], [5, 5, 5, 0], [-1, -2, -1, -3]: tied maxima share the gradient
    /// equally (torch.amax). Central differences see a 2-way tie as 1/2 but a 3-way tie also
    /// as 1/2, so they are not used here.
    func testMaxAndMinShareGradientsBetweenTies() {
        checkAgainstTorch("amax_1", finiteDifferences: false) { $0[0].max(axis: 1) }
        checkAgainstTorch("amin_1", finiteDifferences: false) { $0[0].min(axis: 1) }
        checkAgainstTorch("amax_all", finiteDifferences: false) { $0[0].max() }
    }

    func testMaxAndMinOverSeveralAxes() {
        checkAgainstTorch("amax_02") { $0[0].max(axes: [0, 2]) }
        checkAgainstTorch("amin_12_keep") { $0[0].min(axes: [1, 2], keepDims: true) }
    }

    /// The first extreme wins ties, as in PyTorch; without an axis the index is into the
    /// flattened tensor.
    func testArgmaxAndArgmin() {
        let f = coreFixtures
        let ties = f.tensor("arg", "x"), x = f.tensor("arg", "x234")
        let results: [(String, Tensor)] = [
            ("argmax_1", ties.argmax(axis: 1)), ("argmin_1", ties.argmin(axis: 1)), ("argmax_0", ties.argmax(axis: 0)),
            ("argmin_0", ties.argmin(axis: -2)), ("argmax_all", ties.argmax()), ("argmin_all", ties.argmin()),
            ("argmax_234_1", x.argmax(axis: 1)), ("argmin_234_2", x.argmin(axis: 2, keepDims: true)),
        ]
        for (name, result) in results {
            XCTAssertEqual(result.dtype, .int64, name)
            assertClose(result, f.tensor("arg", name), atol: 0, rtol: 0, name)
        }
        XCTAssertEqual(ties.cast(to: .float64).argmax(axis: 1).doubles, [1, 0, 0])
    }

    func testNaNPropagatesThroughMaxAndArgmax() {
        let x = Tensor([1, .nan, 3, 2] as [Float])
        XCTAssertTrue(x.max().item().isNaN)
        XCTAssertTrue(x.min().item().isNaN)
        XCTAssertEqual(x.argmax().item(), 1)
        XCTAssertEqual(x.argmin().item(), 1)
    }

    // MARK: Variance and standard deviation

    func testVariance() {
        checkAgainstTorch("var_1", atol: 1e-5) { $0[0].variance(axis: 1) }
        checkAgainstTorch("var_02_c0", atol: 1e-5) { $0[0].variance(axes: [0, 2], correction: 0) }
        checkAgainstTorch("var_all", atol: 1e-5) { $0[0].variance() }
    }

    func testStandardDeviation() {
        checkAgainstTorch("std_2_keep", atol: 1e-5) { $0[0].standardDeviation(axes: [2], keepDims: true) }
        checkAgainstTorch("std_all_c0", atol: 1e-5) { $0[0].standardDeviation(correction: 0) }
        // [2, 4, 4, 4, 5, 5, 7, 9]: population deviation 2, sample variance 32 / 7.
        let x = Tensor([2, 4, 4, 4, 5, 5, 7, 9] as [Double])
        XCTAssertEqual(x.standardDeviation(correction: 0).item(), 2, accuracy: 1e-15)
        XCTAssertEqual(x.variance().item(), 32.0 / 7, accuracy: 1e-15)
    }

    // MARK: logsumexp and softmax

    func testLogSumExp() {
        checkAgainstTorch("logsumexp_2", atol: 1e-5) { $0[0].logSumExp(axes: [2]) }
        checkAgainstTorch("logsumexp_01", atol: 1e-5) { $0[0].logSumExp(axes: [0, 1]) }
    }

    func testSoftmax() {
        checkAgainstTorch("softmax_0") { $0[0].softmax(axis: 0) }
        checkAgainstTorch("softmax_last") { $0[0].softmax() }
        checkAgainstTorch("log_softmax_1", atol: 1e-5) { $0[0].logSoftmax(axis: 1) }
        let rows = Tensor.randomNormal([3, 5], source: .key(Key(1))).softmax().sum(axis: -1)
        assertClose(rows, [1, 1, 1], atol: 1e-6, rtol: 0, "softmax rows sum to one")
    }

    /// Rows [1000, 1001, 1002], [-1000, 0, 1000], [-5e4, -5e4, -5e4]: exp overflows float32
    /// (and float64) without subtracting the maximum first.
    func testNumericalStabilityOfLargeValues() {
        checkAgainstTorch("softmax_large") { $0[0].softmax() }
        checkAgainstTorch("log_softmax_large", atol: 1e-4) { $0[0].logSoftmax() }
        checkAgainstTorch("logsumexp_large", atol: 1e-3) { $0[0].logSumExp(axes: [-1]) }
        // -inf entries get probability 0; a row of -inf has logsumexp -inf, not nan.
        assertClose(Tensor([0, -.infinity] as [Float]).softmax(), [1, 0], atol: 0, rtol: 0)
        XCTAssertEqual(Tensor([-.infinity, -.infinity] as [Float]).logSumExp().item(), -.infinity)
        XCTAssertEqual(Tensor([.infinity, 0] as [Float]).logSumExp().item(), .infinity)
    }

    // MARK: Layouts and sizes

    /// Reductions of views: a transpose, a slice with steps, a permutation reduced over
    /// non-adjacent axes, and an expanded (stride 0) operand.
    func testNonContiguousInputs() {
        checkAgainstTorch("sum_view_t", atol: 1e-5) { $0[0].transposed(0, 2).sum(axis: 1) }
        checkAgainstTorch("amax_view_step") { $0[0][TensorIndex.all, TensorIndex.stride(by: 2), TensorIndex.stride(from: 1, by: 2)].max(axis: 2) }
        checkAgainstTorch("softmax_view_t") { $0[0].transposed(1, 2).softmax(axis: 1) }
        checkAgainstTorch("logsumexp_view_02", atol: 1e-5) { $0[0].permuted(2, 0, 1).logSumExp(axes: [0, 2]) }
        checkAgainstTorch("mean_view_expanded", atol: 1e-5) { ($0[0][TensorIndex.all, 0..<1].expanded(to: [2, 3, 4]) * $0[0]).mean(axes: [0, 2]) }
    }

    /// 250 x 400 = 100,000 elements, over the 32,768-element grain of the threaded paths:
    /// whole-tensor folds split across threads, rows in parallel, and an inner-axis
    /// reduction split across columns. Reference: float64 sums in a plain loop. float32
    /// results carry float32 rounding of sums of up to 100,000 terms of size <= 1.
    func testLargeTensorsTakeTheThreadedPaths() {
        let rows = 250, columns = 400
        let values = (0..<(rows * columns)).map { Double(($0 * 7919) % 1000) / 500 - 1 }
        var rowSums = [Double](repeating: 0, count: rows), columnSums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns {
                rowSums[r] += values[r * columns + c]
                columnSums[c] += values[r * columns + c]
            }
        }
        let total = rowSums.reduce(0, +)
        for dtype in [DType.float64, .float32] {
            let x = Tensor(doubles: values, shape: [rows, columns], dtype: dtype)
            let (atol, totalAtol) = dtype == .float64 ? (1e-10, 1e-8) : (1e-3, 0.05)
            assertClose(x.sum(axis: 1), rowSums, atol: atol, rtol: 0, "\(dtype) rows")
            assertClose(x.sum(axis: 0), columnSums, atol: atol, rtol: 0, "\(dtype) columns")
            assertClose(x.transposed().sum(axis: 1), columnSums, atol: atol, rtol: 0, "\(dtype) transposed")
            XCTAssertEqual(x.sum().item(), total, accuracy: totalAtol, "\(dtype)")
            XCTAssertEqual(x.sum().item(), x.sum().item(), "\(dtype): the same split every time")
            let stored = x.doubles
            XCTAssertEqual(x.max().item(), stored.max()!)
            XCTAssertEqual(x.min().item(), stored.min()!)
            XCTAssertEqual(x.mean().item(), total / Double(rows * columns), accuracy: totalAtol / 1e5)
        }
        // The first maximum of each row, in the threaded arg-reduction.
        let x = Tensor(doubles: values, shape: [rows, columns], dtype: .float32)
        let firstMax = (0..<rows).map { r -> Double in
            var best = 0
            for c in 1..<columns where values[r * columns + c] > values[r * columns + best] { best = c }
            return Double(best)
        }
        XCTAssertEqual(x.argmax(axis: 1).doubles, firstMax)
    }
}
