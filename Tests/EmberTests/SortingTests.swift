import XCTest
@testable import Ember

/// cumsum, sort, argsort and topk against PyTorch (Fixtures/generate_core.py).
final class SortingTests: XCTestCase {
    func testCumsum() {
        checkAgainstTorch("cumsum_1") { $0[0].cumsum(axis: 1) }
        checkAgainstTorch("cumsum_0") { $0[0].cumsum(axis: -2) }
        XCTAssertEqual(Tensor([true, false, true]).cumsum(axis: 0).scalars(as: Int64.self), [1, 1, 2])
        XCTAssertEqual(Tensor([1, 2, 3] as [Int32]).cumsum(axis: 0).dtype, .int64)
    }

    func testSortAndTopk() {
        checkAgainstTorch("sort_1") { $0[0].sort(axis: 1).values }
        checkAgainstTorch("sort_desc_0") { $0[0].sort(axis: 0, descending: true).values }
        checkAgainstTorch("argsort_1") { $0[0].argsort(axis: 1) }
        checkAgainstTorch("topk_2") { $0[0].topk(2).values }
        checkAgainstTorch("topk_smallest") { $0[0].topk(3, axis: 1, largest: false).values }
        checkAgainstTorch("topk_indices") { $0[0].topk(2, axis: -1).indices }
    }

    /// Ties keep their order; NaN sorts as the largest value, as in PyTorch.
    func testTiesAndNaN() {
        let x = Tensor([2, .nan, 1, 2, -1] as [Float])
        XCTAssertEqual(x.argsort().scalars(as: Int64.self), [4, 2, 0, 3, 1])
        XCTAssertEqual(x.argsort(descending: true).scalars(as: Int64.self), [1, 0, 3, 2, 4])
        XCTAssertEqual(Tensor([3, 1, 2] as [Int64]).sort().values.scalars(as: Int64.self), [1, 2, 3])
    }
}
