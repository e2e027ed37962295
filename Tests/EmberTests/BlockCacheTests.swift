import XCTest
@testable import Ember

/// Large blocks freed by one tensor serve the next allocation of that size.
final class BlockCacheTests: XCTestCase {
    func testFreedLargeBlocksAreReusedBySize() {
        var address: UnsafeMutableRawPointer?
        do {
            let first = Tensor.zeros([1 << 18])              // 1 MiB
            address = first.storage.pointer
        }
        let second = Tensor.zeros([1 << 18])
        XCTAssertEqual(second.storage.pointer, address, "the freed block is handed out again")
        XCTAssertEqual(second.floats.max(), 0, "and initialized by its creator")
        let other = Tensor.zeros([1 << 17])
        XCTAssertNotEqual(other.storage.pointer, address)
    }

    func testSmallTensorsBypassTheCache() {
        XCTAssertEqual(BlockCache.roundedSize(65_537), 69_632)
        XCTAssertLessThan(Tensor.zeros([16]).storage.byteCount, BlockCache.minimumSize)
    }
}
