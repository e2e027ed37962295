import Ember
import Foundation
import XCTest
@testable import EmberIO

/// `.npy` files written by NumPy (NumPyFixtures.swift, from numpy_fixtures.py) load with the
/// documented dtypes and exact values; malformed files throw errors naming file and problem.
final class NumPyTests: XCTestCase {
    private let grid: [Double] = [-2, -1, 0, 1, 2.5, 3]

    private func assertLoads(_ name: String, _ dtype: DType, _ shape: [Int], _ values: [Double], file: StaticString = #filePath, line: UInt = #line) throws {
        let tensor = try NumPy.decode(NumPyFixtures.data(name), source: name)
        XCTAssertEqual(tensor.dtype, dtype, name, file: file, line: line)
        XCTAssertEqual(tensor.shape, shape, name, file: file, line: line)
        XCTAssertEqual(tensor.doubles, values, name, file: file, line: line)
    }

    func testFloatsInEitherByteOrderAndMemoryOrder() throws {
        try assertLoads("f2.npy", .float16, [2, 3], grid)
        try assertLoads("f4_big.npy", .float32, [2, 3], grid)
        try assertLoads("f8_fortran.npy", .float64, [2, 3], grid)
        try assertLoads("f4_fortran_3d.npy", .float32, [2, 3, 4], (0..<24).map(Double.init))
    }

    func testIntegersWidenExactly() throws {
        try assertLoads("i1.npy", .int32, [4], [-128, -1, 0, 127])
        try assertLoads("i2_big.npy", .int32, [4], [-32768, -1, 0, 32767])
        try assertLoads("i4_big_fortran.npy", .int32, [2, 3], [-2, -1, 0, 1, 2, 3])
        try assertLoads("i8.npy", .int64, [3], [-1_099_511_627_776, 0, 1_099_511_627_776])
        try assertLoads("u1.npy", .int32, [3], [0, 1, 255])
        try assertLoads("u2_big.npy", .int32, [3], [0, 1, 65535])
        try assertLoads("u4.npy", .int64, [3], [0, 1, 4_294_967_295])
        try assertLoads("b1.npy", .bool, [1, 3], [1, 0, 1])
    }

    func testScalarsEmptyArraysAndFormatVersions() throws {
        try assertLoads("scalar.npy", .float32, [], [3.5])
        try assertLoads("empty.npy", .float32, [0, 3], [])
        try assertLoads("v2.npy", .float64, [2], [1.5, -2.5])
        try assertLoads("v3.npy", .int32, [2], [7, 8])
    }

    func testRefusesPicklesAndTypesEmberLacks() {
        assertThrows(try NumPy.decode(NumPyFixtures.data("object.npy"), source: "object.npy"), "npy object.npy", "pickle")
        assertThrows(try NumPy.decode(NumPyFixtures.data("u8.npy"), source: "u8.npy"), "u8.npy", "unsupported dtype '<u8'", "uint64")
        assertThrows(try NumPy.decode(NumPyFixtures.data("c8.npy"), source: "c8.npy"), "c8.npy", "unsupported dtype '<c8'", "complex")
        assertThrows(try NumPy.decode(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]), source: "s.npy"),
                     "s.npy", "structured arrays")
    }

    /// A version 1.0 file with the given header text (unpadded) and data.
    private func npy(_ header: String, version: [UInt8] = [1, 0], data: [UInt8] = []) -> Data {
        let text = Array(header.utf8)
        return Data([0x93] + Array("NUMPY".utf8) + version + littleEndian(UInt16(text.count)) + text + data)
    }

    func testRejectsBadMagicVersionsAndTruncation() {
        assertThrows(try NumPy.decode(Data("PK\u{3}\u{4} not npy".utf8), source: "a.npy"), "npy a.npy", "bad magic", "50 4b 03 04")
        assertThrows(try NumPy.decode(Data(), source: "a.npy"), "a.npy", "bad magic", "the file is empty")
        assertThrows(try NumPy.decode(npy("").prefix(8), source: "a.npy"), "a.npy", "truncated", "too short for the preamble")
        assertThrows(try NumPy.decode(npy("{}", version: [4, 0]), source: "a.npy"), "a.npy", "unsupported format version 4.0")
        assertThrows(try NumPy.decode(npy("{'descr': '<f4'").prefix(20), source: "a.npy"), "a.npy", "truncated", "the header claims 15 bytes")
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        assertThrows(try NumPy.decode(npy(header, data: [UInt8](repeating: 0, count: 23)), source: "a.npy"),
                     "a.npy", "truncated", "shape [2, 3] of '<f4' needs 24 bytes of data, only 23 follow")
        assertThrows(try NumPy.decode(npy(header, data: [UInt8](repeating: 0, count: 25)), source: "a.npy"),
                     "a.npy", "inconsistent with the data length", "needs 24 bytes, 25 follow")
    }

    func testRejectsMalformedHeaders() {
        assertThrows(try NumPy.decode(npy("{'descr': '<f4', 'shape': (2,), }"), source: "h.npy"), "h.npy", "exactly the keys descr, fortran_order and shape")
        assertThrows(try NumPy.decode(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }"), source: "h.npy"), "fortran_order is not True or False")
        assertThrows(try NumPy.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), source: "h.npy"), "not a non-negative integer")
        assertThrows(try NumPy.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) "), source: "h.npy"), "cannot parse the header")
        assertThrows(try NumPy.decode(npy("{'descr': '<q9', 'fortran_order': False, 'shape': (), }"), source: "h.npy"), "unsupported dtype '<q9'")
        assertThrows(try NumPy.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"), source: "h.npy"), "more elements than can be addressed")
    }

    func testEncodesLikeNumPyAndRoundTrips() throws {
        // Byte for byte what np.save wrote for the same arrays (the fixtures).
        let f4 = Tensor(grid.map { Float($0) }, shape: [2, 3])
        XCTAssertEqual(try NumPy.encode(noGrad { f4.cast(to: .float16) }), NumPyFixtures.data("f2.npy"))
        XCTAssertEqual(try NumPy.encode(Tensor([true, false, true], shape: [1, 3])), NumPyFixtures.data("b1.npy"))
        XCTAssertEqual(try NumPy.encode(Tensor(Float(3.5))), NumPyFixtures.data("scalar.npy"))
        XCTAssertEqual(try NumPy.encode(Tensor.zeros([0, 3])), NumPyFixtures.data("empty.npy"))
        let transposed = f4.transposed()
        let back = try NumPy.decode(NumPy.encode(transposed))
        XCTAssertEqual(back.shape, [3, 2])
        XCTAssertEqual(back.doubles, transposed.doubles)
        assertThrows(try NumPy.encode(noGrad { f4.cast(to: .bfloat16) }), "NumPy has no bfloat16")
    }

    func testWritesAtomicallyAndLoadsFromFiles() throws {
        let directory = try temporaryDirectory(self)
        let url = directory.appendingPathComponent("x.npy")
        try NumPy.write(Tensor([Int64(-5), 6]), to: url)
        let loaded = try NumPy.load(contentsOf: url)
        XCTAssertEqual(loaded.dtype, .int64)
        XCTAssertEqual(loaded.doubles, [-5, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["x.npy"])
        assertThrows(try NumPy.load(contentsOf: directory.appendingPathComponent("missing.npy")), "missing.npy", "no such file")
        assertThrows(try NumPy.write(Tensor([Float(1)]), to: directory.appendingPathComponent("no/such/dir.npy")), "no/such/dir.npy", "cannot create the temporary file")
    }
}
