import Foundation
import XCTest
@testable import EmberIO

/// `FileError`, `JSONFile` and `MemoryLimit`: every file problem is one line naming the file,
/// the part of it and what is wrong, never a Foundation error description.
final class FileErrorTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-file-error-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testTheDescriptionNamesFormatPathAndMember() {
        XCTAssertEqual("\(FileError(.npz, path: "a.npz", member: "w.npy", problem: "truncated"))", "npz a.npz, w.npy: truncated")
        XCTAssertEqual("\(FileError(.checkpoint, path: "last.ckpt", problem: "corrupt"))", "checkpoint last.ckpt: corrupt")
    }

    func testMissingFilesAndDirectoriesAreSaidInWords() throws {
        let missing = directory.appendingPathComponent("missing.json")
        XCTAssertEqual(message { _ = try FileError.contents(of: missing, format: .json) }, "JSON \(missing.path): no such file")
        XCTAssertEqual(message { _ = try FileError.contents(of: directory, format: .json) }, "JSON \(directory.path): is a directory, not a file")
    }

    private struct Settings: Codable, Equatable {
        struct Inner: Codable, Equatable { var sizes: [Int] }
        var name: String
        var inner: Inner
        var scale: Float
    }

    func testDecodingErrorsNameTheKeyNotFoundation() throws {
        let url = directory.appendingPathComponent("settings.json")
        func decode(_ json: String) -> String {
            try! Data(json.utf8).write(to: url)
            return message { _ = try JSONFile.decode(Settings.self, from: url, format: .runConfig) }
        }
        XCTAssertEqual(decode("{\"name\": "), "run configuration \(url.path): not valid JSON: unexpected end of input, expected a value at byte 9")
        XCTAssertEqual(decode(#"{"name": 5, "inner": {"sizes": []}, "scale": 1}"#), "run configuration \(url.path), name: expected a string")
        XCTAssertEqual(decode(#"{"name": "a", "inner": {"sizes": [1, "x"]}, "scale": 1}"#),
                       "run configuration \(url.path), inner.sizes[1]: expected a whole number")
        XCTAssertEqual(decode(#"{"name": "a", "inner": {}, "scale": 1}"#), "run configuration \(url.path), inner.sizes: missing (a required key)")
        for text in [decode("[1, 2]"), decode(#"{"name": "a", "inner": {"sizes": [1e400]}, "scale": 1}"#)] {
            XCTAssertFalse(text.contains("DecodingError") || text.contains("NSCocoaErrorDomain"), text)
        }
    }

    func testNaNCannotBeWrittenAndTheKeyIsNamed() throws {
        let url = directory.appendingPathComponent("settings.json")
        let value = Settings(name: "a", inner: .init(sizes: [1]), scale: .nan)
        XCTAssertEqual(message { try JSONFile.write(value, to: url, format: .runModel) },
                       "run model description \(url.path), scale: cannot hold nan: JSON has no NaN or infinity")
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
        try JSONFile.write(Settings(name: "a", inner: .init(sizes: [1]), scale: 2), to: url, format: .runModel)
        XCTAssertEqual(try JSONFile.decode(Settings.self, from: url, format: .runModel).scale, 2)
    }

    func testSizesAreCheckedAgainstPhysicalMemory() {
        XCTAssertGreaterThan(MemoryLimit.physicalBytes, 1 << 20)
        XCTAssertEqual(MemoryLimit.bytes([3, 4, 5]), 60)
        XCTAssertNil(MemoryLimit.bytes([Int.max, 2]), "an overflowing product")
        XCTAssertNil(MemoryLimit.problem(bytes: 1024))
        let memory = MemoryLimit.formatted(MemoryLimit.physicalBytes)
        XCTAssertEqual(MemoryLimit.problem(bytes: MemoryLimit.bytes([1_000_000_000_000_000, 384, 4])),
                       "1.5 EB, more than this machine's \(memory) of memory")
        XCTAssertEqual(MemoryLimit.problem(bytes: MemoryLimit.bytes([Int.max / 2, 4])),
                       "more bytes than can be counted (over 9.2 EB), more than this machine's \(memory) of memory")
        XCTAssertEqual(MemoryLimit.problem(bytes: MemoryLimit.physicalBytes + 1).map { $0.hasSuffix("of memory") }, true)
        XCTAssertEqual(MemoryLimit.formatted(512), "512 B")
        XCTAssertEqual(MemoryLimit.formatted(25_600_000_000), "25.6 GB")
    }
}
