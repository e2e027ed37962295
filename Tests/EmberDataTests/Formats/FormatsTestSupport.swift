import Foundation
import XCTest
@testable import EmberIO

/// A gzip member (RFC 1952) around `bytes`: the 10-byte header, raw deflate, CRC-32 and size.
func gzip(_ bytes: [UInt8]) -> [UInt8] {
    let header: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
    let crc = bytes.withUnsafeBytes { Compression.crc32($0) }
    return header + bytes.withUnsafeBytes { Compression.deflate($0) } + littleEndian(crc) + littleEndian(UInt32(truncatingIfNeeded: bytes.count))
}

func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }

/// A fresh directory for one test's files, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-formats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Asserts that `body` throws an error whose description contains every fragment (the file's
/// name and the problem).
func assertThrows<T>(_ body: @autoclosure () throws -> T, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        let message = "\(error)"
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "expected “\(fragment)” in: \(message)", file: file, line: line)
        }
    }
}
