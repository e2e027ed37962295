import Foundation
import XCTest
@testable import EmberIO

final class CompressionTests: XCTestCase {
    private let text = Array("the quick brown fox jumps over the lazy dog, again and again and again".utf8)

    func testGunzipsOneMemberAndConcatenatedMembers() throws {
        XCTAssertEqual(try Compression.gunzip(Data(gzip(text)), source: "a.gz"), text)
        XCTAssertEqual(try Compression.gunzip(Data(gzip(text) + gzip([1, 2, 3]) + gzip([])), source: "a.gz"), text + [1, 2, 3])
        XCTAssertTrue(Compression.isGzip(Data(gzip([]))))
        XCTAssertFalse(Compression.isGzip(Data(text)))
    }

    func testGunzipRejectsTruncatedCorruptAndForeignData() {
        let good = gzip(text)
        assertThrows(try Compression.gunzip(Data(good.dropLast(6)), source: "cut.gz"), "cut.gz", "truncated")
        assertThrows(try Compression.gunzip(Data(good.prefix(12)), source: "cut.gz"), "cut.gz", "truncated")
        var badCRC = good
        badCRC[badCRC.count - 8] ^= 0xFF
        assertThrows(try Compression.gunzip(Data(badCRC), source: "crc.gz"), "crc.gz", "corrupt compressed data", "incorrect data check")
        var badStream = good
        badStream[10] = 0xFF  // an invalid deflate block type
        assertThrows(try Compression.gunzip(Data(badStream), source: "bad.gz"), "bad.gz", "corrupt compressed data")
        assertThrows(try Compression.gunzip(Data(good + [0, 0, 0]), source: "tail.gz"), "tail.gz", "3 bytes after the end of the gzip data")
        assertThrows(try Compression.gunzip(Data(text), source: "plain.txt"), "plain.txt", "not gzip data")
    }

    func testRawDeflateRoundTripsAtEveryLevel() throws {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * $0 / 7) }
        for level in [0, 1, 6, 9] {
            let packed = bytes.withUnsafeBytes { Compression.deflate($0, level: level) }
            XCTAssertEqual(try Compression.inflate(Data(packed), expectedCount: bytes.count, format: .zip, source: "m"), bytes, "level \(level)")
        }
        let empty = [UInt8]().withUnsafeBytes { Compression.deflate($0) }
        XCTAssertEqual(try Compression.inflate(Data(empty), expectedCount: 0, format: .zip, source: "m"), [])
    }

    func testRawInflateChecksTheDeclaredSizeAndTheStreamEnd() {
        let packed = text.withUnsafeBytes { Compression.deflate($0) }
        assertThrows(try Compression.inflate(Data(packed), expectedCount: text.count + 1, format: .zip, source: "m.npy"), "m.npy", "holds \(text.count) bytes, \(text.count + 1) were declared")
        assertThrows(try Compression.inflate(Data(packed + [9]), expectedCount: text.count, format: .zip, source: "m.npy"), "ends after \(packed.count) of its \(packed.count + 1) bytes")
        assertThrows(try Compression.inflate(Data(packed.dropLast(3)), expectedCount: text.count, format: .zip, source: "m.npy"), "truncated")
    }

    func testCRC32MatchesTheStandardCheckValue() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { Compression.crc32($0) }, 0xCBF4_3926)
    }
}
