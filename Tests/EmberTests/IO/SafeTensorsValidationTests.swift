import Foundation
import XCTest
@testable import Ember
@testable import EmberIO

/// Malformed safetensors files, built byte by byte, must throw an error that names the file
/// and the problem, never crash or read out of bounds. The layout rules are the Rust reader's.
final class SafeTensorsValidationTests: XCTestCase {
    /// An 8-byte little-endian length (the JSON's own unless given), the JSON, then `data`.
    private func file(_ json: String, data: [UInt8] = [], length: UInt64? = nil) -> Data {
        let header = Array(json.utf8)
        return Data(withUnsafeBytes(of: (length ?? UInt64(header.count)).littleEndian, Array.init) + header + data)
    }

    private func assertRejects(_ bytes: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(bytes, source: "bad.safetensors"), file: file, line: line) { error in
            guard let error = error as? FileError else { return XCTFail("not a FileError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.path, "bad.safetensors", file: file, line: line)
            XCTAssertTrue(error.description.contains("bad.safetensors"), file: file, line: line)
            XCTAssertTrue(error.problem.contains(fragment), "expected “\(fragment)” in: \(error.problem)", file: file, line: line)
        }
    }

    private let f32x2 = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    private let eightBytes = [UInt8](repeating: 0, count: 8)

    func testAcceptsAMinimalFile() throws {
        let (tensors, metadata) = try SafeTensors.decode(file(#"{"a":\#(f32x2)}"#, data: [0, 0, 128, 63, 0, 0, 0, 64]))
        assertClose(tensors["a"]!, [1, 2])
        XCTAssertEqual(metadata, [:])
        // Padding, null metadata, unknown entry keys (ignored, as by the Rust reader), escapes.
        let lenient = #"  {"__metadata__":null,"\u0061\/b":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{}]}}   "#
        XCTAssertEqual(try SafeTensors.decode(file(lenient, data: eightBytes)).tensors.keys.sorted(), ["a/b"])
        XCTAssertEqual(try SafeTensors.decode(file("{}")).tensors.count, 0)
    }

    func testRejectsBadLengthPrefix() {
        assertRejects(Data(), "0 bytes long, too short")
        assertRejects(Data([1, 0, 0, 0, 0, 0, 0]), "7 bytes long, too short")
        assertRejects(file("{}", length: UInt64.max), "more than the 100000000-byte limit")
        assertRejects(file("{}", length: 100_000_001), "more than the 100000000-byte limit")
        assertRejects(file("{}", length: 3), "only 2 bytes follow")
        assertRejects(file("{}", length: 1), "cannot parse the header's JSON")
    }

    func testRejectsHeadersThatAreNotAJSONObject() {
        assertRejects(file(#"{"a":"#), "unexpected end of input")
        assertRejects(file(#"{"a":1,}"#), "unexpected '}'")
        assertRejects(file(#"{"a":01}"#), "leading zero")
        assertRejects(file("[1,2]"), "the header is an array, not a JSON object")
        assertRejects(file(#"{} {}"#), "after the end of the value")
        assertRejects(file("{\"a\tb\":1}"), "control characters must be escaped")
        assertRejects(file(#"{"\ud800":1}"#), "unpaired high surrogate")
        assertRejects(file("{\"a\":" + String(repeating: "[", count: 100_000)), "nested more than 128 levels")
        var invalidUTF8 = file(#"{"ab":1}"#)
        invalidUTF8[10] = 0xFF
        assertRejects(invalidUTF8, "not valid UTF-8")
    }

    func testRejectsMalformedEntries() {
        assertRejects(file(#"{"a":[1]}"#), "tensor \"a\" is described by an array")
        assertRejects(file(#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes), "tensor \"a\" has no \"dtype\"")
        assertRejects(file(#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, data: eightBytes), "has no \"shape\"")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2]}}"#, data: eightBytes), "has no \"data_offsets\"")
        assertRejects(file(#"{"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes), "unknown dtype \"F12\"")
        assertRejects(file(#"{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#, data: eightBytes), "dtype is a number")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}"#, data: eightBytes), "shape is not an array")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eightBytes), "negative number -2")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: eightBytes), "2.0, not an integer")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, data: eightBytes), "holds a string")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#), "too large")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#), "overflows")
        assertRejects(file(#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#, data: [0]), "do not fill whole bytes")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, data: eightBytes), "has 3 entries")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eightBytes), "end before they begin")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#, data: eightBytes + [0, 0, 0, 0]),
                      "needs 8 bytes but data_offsets [0, 12] span 12")
    }

    func testRejectsBadLayouts() {
        // Truncated: the header promises 8 bytes of data, the file holds 5.
        assertRejects(file(#"{"a":\#(f32x2)}"#, data: [0, 0, 0, 0, 0]), "run past the end of the 5-byte data buffer")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[9223372036854775799,9223372036854775807]}}"#),
                      "run past the end of the 0-byte data buffer")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                           data: eightBytes + [0, 0, 0, 0]),
                      "tensor \"b\" (data_offsets [4, 12]) overlaps tensor \"a\"")
        assertRejects(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#,
                           data: eightBytes + eightBytes + [0, 0, 0, 0]),
                      "bytes 8..<12 of the data buffer, before tensor \"b\", belong to no tensor")
        assertRejects(file(#"{"a":\#(f32x2)}"#, data: eightBytes + [1]), "the last 1 of the data buffer's 9 bytes belong to no tensor")
        assertRejects(file(#"{"a":\#(f32x2),"a":\#(f32x2)}"#, data: eightBytes), "the key \"a\" appears twice")
    }

    func testRejectsBadMetadata() {
        assertRejects(file(#"{"__metadata__":{"k":1}}"#), "__metadata__ entry \"k\" is a number, not a string")
        assertRejects(file(#"{"__metadata__":{"k":null}}"#), "__metadata__ entry \"k\" is null")
        assertRejects(file(#"{"__metadata__":["k"]}"#), "__metadata__ is an array")
        assertRejects(file(#"{"__metadata__":{"k":"v","k":"w"}}"#), "appears twice")
    }

    func testDTypesEmberLacks() throws {
        // F8 and U64 tensors cannot load, but the file is valid and its other tensors load.
        let json = #"{"a":\#(f32x2),"f8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[8,10]},"u64":{"dtype":"U64","shape":[],"data_offsets":[10,18]}}"#
        let bytes = file(json, data: [0, 0, 128, 63, 0, 0, 0, 64, 1, 2] + eightBytes)
        assertRejects(bytes, "tensor \"f8\" has dtype F8_E4M3, which Ember has no dtype for")
        let opened = try SafeTensorsFile(bytes: bytes, source: "mixed.safetensors")
        assertClose(try opened.tensor(named: "a"), [1, 2])
        XCTAssertThrowsError(try opened.tensor(named: "u64")) { XCTAssertTrue("\($0)".contains("dtype U64"), "\($0)") }

        // Narrow integers widen exactly; any nonzero BOOL byte is true.
        let narrow = #"{"u8":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"i16":{"dtype":"I16","shape":[2],"data_offsets":[2,6]},"#
            + #""b":{"dtype":"BOOL","shape":[3],"data_offsets":[6,9]}}"#
        let loaded = try SafeTensors.decode(file(narrow, data: [255, 3, 0x00, 0x80, 0xFF, 0x7F, 2, 0, 1])).tensors
        assertSameTensor(loaded["u8"]!, Tensor([Int32(255), 3]), "u8")
        assertSameTensor(loaded["i16"]!, Tensor([Int32(-32768), 32767]), "i16")
        assertSameTensor(loaded["b"]!, Tensor([true, false, true]), "b")
    }

    func testFileErrorsNameTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let missing = directory.appendingPathComponent("missing.safetensors")
        for read in [{ _ = try SafeTensors.load(contentsOf: missing) }, { _ = try SafeTensors.header(contentsOf: missing) }] {
            XCTAssertThrowsError(try read()) { error in
                XCTAssertEqual((error as? FileError)?.path, missing.path)
                XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
            }
        }
        // header() checks the layout against the file's size without reading the data.
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try file(#"{"a":\#(f32x2)}"#, data: [0, 0, 0]).write(to: truncated)
        XCTAssertThrowsError(try SafeTensors.header(contentsOf: truncated)) { error in
            XCTAssertEqual((error as? FileError)?.path, truncated.path)
            XCTAssertTrue("\(error)".contains("run past the end of the 3-byte data buffer"), "\(error)")
        }
        let short = directory.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        XCTAssertThrowsError(try SafeTensors.header(contentsOf: short)) { XCTAssertTrue("\($0)".contains("3 bytes long"), "\($0)") }
        XCTAssertThrowsError(try SafeTensors.read(contentsOf: short)) { XCTAssertTrue("\($0)".contains("3 bytes long"), "\($0)") }
    }
}
