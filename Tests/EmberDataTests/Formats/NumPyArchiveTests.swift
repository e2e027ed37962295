import Ember
import Foundation
import XCTest
@testable import EmberIO

/// `.npz` archives: NumPy's own (stored and deflated, zip64 local headers) load; ours round
/// trip; corrupt or truncated archives throw errors naming the file, the member and the problem.
final class NumPyArchiveTests: XCTestCase {
    private func assertHoldsTheFixtureArrays(_ arrays: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(arrays.keys.sorted(), ["labels", "weights"], file: file, line: line)
        XCTAssertEqual(arrays["weights"]?.dtype, .float32, file: file, line: line)
        XCTAssertEqual(arrays["weights"]?.shape, [2, 3], file: file, line: line)
        XCTAssertEqual(arrays["weights"]?.doubles, [-2, -1, 0, 1, 2.5, 3], file: file, line: line)
        XCTAssertEqual(arrays["labels"]?.dtype, .int64, file: file, line: line)
        XCTAssertEqual(arrays["labels"]?.doubles, [1, 2, 3], file: file, line: line)
    }

    private let arrays = ["weights": Tensor([Float(-2), -1, 0, 1, 2.5, 3], shape: [2, 3]), "labels": Tensor([Int64(1), 2, 3])]

    func testLoadsNumPysStoredAndCompressedArchives() throws {
        assertHoldsTheFixtureArrays(try NumPy.decodeArchive(NumPyFixtures.data("stored.npz"), source: "stored.npz"))
        assertHoldsTheFixtureArrays(try NumPy.decodeArchive(NumPyFixtures.data("compressed.npz"), source: "compressed.npz"))
    }

    func testRoundTripsStoredAndCompressedThroughFiles() throws {
        let directory = try temporaryDirectory(self)
        for compressed in [false, true] {
            let url = directory.appendingPathComponent(compressed ? "c.npz" : "s.npz")
            try NumPy.writeArchive(arrays, compressed: compressed, to: url)
            assertHoldsTheFixtureArrays(try NumPy.loadArchive(contentsOf: url))
        }
        // Deflate pays off on repetitive data.
        let zeros = ["z": Tensor.zeros([1000])]
        XCTAssertLessThan(try NumPy.encodeArchive(zeros, compressed: true).count, try NumPy.encodeArchive(zeros).count / 4)
        XCTAssertEqual(try NumPy.decodeArchive(NumPy.encodeArchive([:])).count, 0)
    }

    func testDetectsCorruptAndTruncatedArchives() throws {
        // One stored member "a.npy" (a 128-byte header and 4 floats) after a 30-byte local
        // header, its 5-byte name and a 20-byte zip64 extra field.
        let stored = try NumPy.encodeArchive(["a": Tensor([Float(1), 2, 3, 4])])
        var flipped = stored
        flipped[55 + 128 + 15] ^= 0x01
        assertThrows(try NumPy.decodeArchive(flipped, source: "f.npz"), "npz f.npz, a.npy", "CRC mismatch")

        var compressed = try NumPy.encodeArchive(["a": Tensor([Float](repeating: 1, count: 64))], compressed: true)
        for i in 58..<66 { compressed[i] ^= 0x5A }
        assertThrows(try NumPy.decodeArchive(compressed, source: "c.npz"), "npz c.npz, a.npy", "corrupt")

        assertThrows(try NumPy.decodeArchive(stored.prefix(stored.count / 2), source: "t.npz"), "npz t.npz", "not a zip archive (or truncated)")
        assertThrows(try NumPy.decodeArchive(Data(count: 10), source: "t.npz"), "t.npz", "shorter than a zip end record")
        // The end records intact, the members' bytes cut away.
        let endRecords = 56 + 20 + 22
        let centralDirectory = 46 + 5 + 28
        let cut = stored.prefix(40) + stored.suffix(endRecords + centralDirectory)
        assertThrows(try NumPy.decodeArchive(Data(cut), source: "t.npz"), "t.npz", "truncated")
    }

    func testRefusesMembersThatAreNotArraysAndNamesTheMember() throws {
        var writer = ZipWriter()
        var bytes = [UInt8]()
        writer.add(name: "notes.txt", contents: Array("hello".utf8), deflated: false) { bytes += $0 }
        writer.finish { bytes += $0 }
        assertThrows(try NumPy.decodeArchive(Data(bytes), source: "n.npz"), "npz n.npz, notes.txt", "not a .npy array")

        writer = ZipWriter()
        bytes = []
        writer.add(name: "x.npy", contents: Array("not an array".utf8), deflated: true) { bytes += $0 }
        writer.finish { bytes += $0 }
        assertThrows(try NumPy.decodeArchive(Data(bytes), source: "x.npz"), "npz x.npz, x.npy", "bad magic")

        assertThrows(try NumPy.encodeArchive(["h": Tensor([BFloat16(1)])]), "npz <memory>, h.npy", "NumPy has no bfloat16")
    }
}
