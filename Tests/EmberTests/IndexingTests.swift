import XCTest
@testable import Ember

/// gather, scatter-add, index-select, index-add and one-hot, against PyTorch
/// (Fixtures/generate_core.py) on a [3, 4] input with repeated indices, so that
/// accumulation into one position is exercised in the kernels and in the gradients.
final class IndexingTests: XCTestCase {
    /// out[i][j] = x[i][index[i][j]] with index [[0, 3], [1, 1], [2, 0]] (a repeat in row 1,
    /// whose gradient adds up), and along axis 0.
    func testGather() {
        checkAgainstTorch("gather_1") { $0[0].gather(axis: 1, index: $0[1]) }
        checkAgainstTorch("gather_0") { $0[0].gather(axis: 0, index: $0[1]) }
        let x = Tensor([[1, 2], [3, 4]] as [[Float]])
        XCTAssertEqual(x.gather(axis: -1, index: Tensor([[1, 1], [0, 1]] as [[Int32]])).floats, [2, 2, 3, 4])
    }

    /// x with source added at index along an axis; repeated targets accumulate.
    func testScatterAdding() {
        checkAgainstTorch("scatter_add_1") { $0[0].scatterAdding(axis: 1, index: $0[1], source: $0[2]) }
        checkAgainstTorch("scatter_add_0") { $0[0].scatterAdding(axis: 0, index: $0[1], source: $0[2]) }
        let counts = Tensor.zeros([4], dtype: .int64).scatterAdding(axis: 0, index: Tensor([1, 3, 1, 1] as [Int64]),
                                                                    source: Tensor.ones([4], dtype: .int64))
        XCTAssertEqual(counts.doubles, [0, 3, 0, 1])
    }

    func testIndexSelect() {
        checkAgainstTorch("index_select_1") { $0[0].indexSelect(axis: 1, index: $0[1]) }
        checkAgainstTorch("index_select_0") { $0[0].indexSelect(axis: 0, index: $0[1]) }
    }

    func testIndexAdding() {
        checkAgainstTorch("index_add_0") { $0[0].indexAdding(axis: 0, index: $0[1], source: $0[2]) }
        checkAgainstTorch("index_add_1") { $0[0].indexAdding(axis: 1, index: $0[1], source: $0[2]) }
    }

    /// int32 indices, a transposed index, a strided source and a non-float dtype give the
    /// same results as their dense int64 float32 counterparts.
    func testIndexDtypesAndLayouts() {
        let f = coreFixtures
        let x = f.tensor("gather_0", "x0"), index = f.tensor("gather_0", "x1")
        let expected = x.gather(axis: 0, index: index)
        XCTAssertEqual(x.gather(axis: 0, index: index.cast(to: .int32)).doubles, expected.doubles)
        let transposedIndex = index.transposed().contiguous().transposed()
        XCTAssertFalse(transposedIndex.isContiguous)
        XCTAssertEqual(x.gather(axis: 0, index: transposedIndex).doubles, expected.doubles)
        XCTAssertEqual(x.transposed().contiguous().transposed().gather(axis: 0, index: index).doubles, expected.doubles)

        let picks = Tensor([2, 0, 2] as [Int32])
        let strided = Tensor.arange(from: 0, to: 24).reshaped(to: [4, 6])[TensorIndex.all, TensorIndex.stride(by: 2)]
        XCTAssertEqual(strided.indexSelect(axis: 1, index: picks).doubles, [4, 0, 4, 10, 6, 10, 16, 12, 16, 22, 18, 22])
        XCTAssertEqual(Tensor([true, false, true]).indexSelect(axis: 0, index: picks).scalars(as: Bool.self), [true, true, true])
        let halves = Tensor([1, 2, 3] as [Float]).cast(to: .float16)
        XCTAssertEqual(halves.indexAdding(axis: 0, index: Tensor([0, 0] as [Int64]), source: Tensor([0.5, 0.25] as [Float]).cast(to: .float16)).floats,
                       [1.75, 2, 3])
    }

    func testShapeRules() {
        let x = TensorSpec([3, 4], .float32)
        XCTAssertThrowsError(try Primitive.gather(axis: 1).outputSpecs([x, TensorSpec([3, 2], .float32)])) { error in
            XCTAssertEqual("\(error)", "gather: indices must be int32 or int64, got float32")
        }
        XCTAssertThrowsError(try Primitive.gather(axis: 1).outputSpecs([x, TensorSpec([4, 2], .int64)]))
        XCTAssertThrowsError(try Primitive.indexSelect(axis: 0).outputSpecs([x, TensorSpec([2, 2], .int64)]))
        XCTAssertThrowsError(try Primitive.indexAdd(axis: 0).outputSpecs([x, TensorSpec([2], .int64), TensorSpec([2, 3], .float32)]))
        XCTAssertEqual(try Primitive.gather(axis: 1).outputSpecs([x, TensorSpec([2, 7], .int64)]), [TensorSpec([2, 7], .float32)])
    }

    /// Labels [[0, 3], [2, 2]] with 4 classes: a new last axis.
    func testOneHot() {
        let labels = coreFixtures.tensor("one_hot", "labels")
        let expected = coreFixtures.tensor("one_hot", "y")
        let encoded = labels.oneHot(classes: 4)
        XCTAssertEqual(encoded.dtype, .float32)
        assertClose(encoded, expected, atol: 0, rtol: 0)
        XCTAssertEqual(labels.cast(to: .int32).oneHot(classes: 4, dtype: .int64).doubles, expected.doubles)
    }

    /// The gradient of gather is a scatter-add, whose gradient is a gather again: second
    /// derivatives of sum(gather(x)^3) are 6 gather(x) summed back into x's positions.
    func testSecondDerivativeThroughGather() {
        let x = Tensor([1, -2, 3] as [Double])
        let index = Tensor([2, 2, 0] as [Int64])
        let second = grad { (t: Tensor) in grad { (u: Tensor) in pow(u.gather(axis: 0, index: index), 3).sum() }(t).sum() }(x)
        assertClose(second, [6, 0, 36], atol: 1e-12, rtol: 0)
    }
}
