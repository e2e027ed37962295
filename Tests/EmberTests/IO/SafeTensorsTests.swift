import Foundation
import XCTest
@testable import Ember
@testable import EmberIO

/// Safetensors against the reference implementation (files written by and for
/// Fixtures/safetensors/generate.py), and write-read round trips.
final class SafeTensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    // MARK: PyTorch -> Ember

    func testReadsFileWrittenByPyTorch() throws {
        let expected = try Fixtures("safetensors/torch_written")
        guard let cases = expected.cases["torch_written"] else { return XCTFail("torch_written.json has no case torch_written") }
        let (tensors, metadata) = try SafeTensors.read(contentsOf: try fixture("torch_written", "safetensors"))

        XCTAssertEqual(Set(tensors.keys), Set(cases.keys))
        for name in cases.keys.sorted() {
            guard let tensor = tensors[name] else { continue }
            // Exact: the file holds the values themselves, nothing is computed.
            assertSameTensor(tensor, expected.tensor("torch_written", name), name)
        }
        let expectedMetadata = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("torch_written_metadata", "json")))
        XCTAssertEqual(metadata, expectedMetadata as? [String: String])
        XCTAssertEqual(Set(try SafeTensors.load(contentsOf: fixture("torch_written", "safetensors")).keys), Set(cases.keys))
    }

    func testHeaderListsSpecsWithoutLoading() throws {
        let specs = try SafeTensors.header(contentsOf: try fixture("torch_written", "safetensors"))
        XCTAssertEqual(specs.count, 15)
        XCTAssertEqual(specs["f16"], TensorSpec([6], .float16))
        XCTAssertEqual(specs["scalar"], TensorSpec([], .float32))
        XCTAssertEqual(specs["empty"], TensorSpec([0, 3], .float32))
        XCTAssertEqual(specs["mask"], TensorSpec([2, 3], .bool))
        // Narrow integer types are listed as the dtype they load as.
        XCTAssertEqual(specs["u8"], TensorSpec([4], .int32))
        XCTAssertEqual(specs["u32"], TensorSpec([3], .int64))
    }

    func testLoadsOnlyRequestedTensors() throws {
        let url = try fixture("torch_written", "safetensors")
        let some = try SafeTensors.load(contentsOf: url, names: ["bf16", "i64"])
        XCTAssertEqual(Set(some.keys), ["bf16", "i64"])
        assertSameTensor(some["i64"]!, Tensor([-(Int64(1) << 62), -1, 0, (Int64(1) << 40) + 3], shape: [2, 2]), "i64")

        XCTAssertThrowsError(try SafeTensors.load(contentsOf: url, names: ["f32", "missing"])) { error in
            XCTAssertTrue("\(error)".contains("no tensor named \"missing\""), "\(error)")
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }

        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(file.names.first, "i64", "names follow the file's data order (widest dtype first)")
        XCTAssertEqual(try file.spec("model.layers.0.attn/q_proj.weight"), TensorSpec([2, 3], .float32))
        assertSameTensor(try file.tensor(named: "model.layers.0.attn/q_proj.weight"),
                         Tensor((0..<6).map { Float($0) / 8 }, shape: [2, 3]), "q_proj")
    }

    // MARK: Ember -> PyTorch

    /// The tensors of ember_written.safetensors; generate.py's `ember_tensors()` defines the same.
    static func emberTensors() -> [String: Tensor] {
        [
            "weight": Tensor((0..<12).map { Float($0) / 4 - 1 }, shape: [3, 4]).transposed(),
            "bias": Tensor((0..<5).map { Double($0) * 0.5 }),
            "half": Tensor(doubles: (0..<6).map { (Double($0) - 2.5) / 4 }, shape: [2, 3], dtype: .float16),
            "brain": Tensor(doubles: (0..<4).map { Double($0) * 1.25 - 2 }, dtype: .bfloat16),
            "index": Tensor((0..<6).map { Int64($0) * 1_000_000_007 - 3 }),
            "count": Tensor((0..<4).map { Int32($0) - 2 }, shape: [2, 2]),
            "mask": Tensor((0..<5).map { $0 % 2 == 0 }),
            "scalar": Tensor(Float(2.5)),
            "empty": Tensor.zeros([0, 4]),
            "layer.0/odd \"name\"\tü": Tensor([Float(7)]),
        ]
    }

    /// Our encoding must equal the committed file, which generate.py --check-ember verified to
    /// load in safetensors and to equal, byte for byte, what safetensors.torch.save writes.
    /// EMBER_REGENERATE_FIXTURES=1 rewrites the committed file instead (then rerun the check).
    func testEmberWrittenFile() throws {
        let data = try SafeTensors.encode(Self.emberTensors(), metadata: ["format": "pt"])
        if ProcessInfo.processInfo.environment["EMBER_REGENERATE_FIXTURES"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/safetensors/ember_written.safetensors")
            try SafeTensors.write(Self.emberTensors(), metadata: ["format": "pt"], to: source)
            XCTAssertEqual(try Data(contentsOf: source), data)
            return
        }
        XCTAssertEqual(data, try Data(contentsOf: fixture("ember_written", "safetensors")))
        let decoded = try SafeTensors.decode(data)
        XCTAssertEqual(decoded.metadata, ["format": "pt"])
        for (name, tensor) in Self.emberTensors() { assertSameTensor(decoded.tensors[name]!, tensor, name) }
    }

    // MARK: Round trips

    func testRoundTripsEveryDTypeAndLayout() throws {
        let base = Tensor((0..<24).map { Double($0) * 0.75 - 7 }, shape: [2, 3, 4])
        var tensors = [String: Tensor]()
        for dtype in DType.allCases {
            let x = base.cast(to: dtype)
            tensors["\(dtype)"] = x
            tensors["\(dtype).transposed"] = x.permuted(2, 0, 1)
            tensors["\(dtype).strided"] = x[TensorIndex.all, TensorIndex.stride(from: 0, to: 3, by: 2), 1]
            tensors["\(dtype).broadcast"] = x[0, 0].reshaped(to: [1, 4]).expanded(to: [3, 4])
            tensors["\(dtype).scalar"] = x[1, 2, 3]
            tensors["\(dtype).empty"] = x[TensorIndex.all, 1..<1, TensorIndex.all]
        }
        tensors["large int64"] = Tensor([Int64.min, Int64.max, (Int64(1) << 53) + 1])
        tensors["requires grad"] = Tensor.ones([2, 3]).requiringGrad().transposed()
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t ü €", "": "empty key"]

        let url = directory.appendingPathComponent("round trip.safetensors")
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        let (loaded, loadedMetadata) = try SafeTensors.read(contentsOf: url)
        XCTAssertEqual(loadedMetadata, metadata)
        XCTAssertEqual(Set(loaded.keys), Set(tensors.keys))
        for (name, tensor) in tensors { assertSameTensor(loaded[name]!, tensor, name) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["round trip.safetensors"],
                       "the temporary file is renamed, nothing is left behind")
        XCTAssertEqual(try Data(contentsOf: url), try SafeTensors.encode(tensors, metadata: metadata),
                       "write and encode produce the same bytes")
    }

    func testEncodingIsDeterministicAndAligned() throws {
        let a: [String: Tensor] = ["b": Tensor([true]), "a": Tensor([Float(1)]), "c": Tensor([Int64(2)])]
        let first = try SafeTensors.encode(a, metadata: ["y": "2", "x": "1", "z": "3"])
        let second = try SafeTensors.encode(a.reduce(into: [:]) { $0[$1.key] = $1.value }, metadata: ["z": "3", "x": "1", "y": "2"])
        XCTAssertEqual(first, second)
        let length = Int(first.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(length % 8, 0, "the header is padded to 8 bytes")
        let header = String(decoding: first[8..<(8 + length)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"__metadata__":{"x":"1","y":"2","z":"3"},"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"#
                       + #""a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"b":{"dtype":"BOOL","shape":[1],"data_offsets":[12,13]}}"#)
        XCTAssertEqual(first.count, 8 + length + 13)
        // No metadata: no __metadata__ key at all, as save_file(metadata=None) writes.
        let plain = try SafeTensors.encode(["t": Tensor([Float(1)])])
        XCTAssertEqual(String(decoding: plain.dropFirst(8).prefix(54), as: UTF8.self),
                       #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#)
    }

    // MARK: Atomic writes

    func testFailedWriteKeepsTheExistingFile() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try SafeTensors.write(["w": Tensor([Float(1), 2])], to: url)
        let original = try Data(contentsOf: url)

        XCTAssertThrowsError(try SafeTensors.write(["__metadata__": Tensor([Float(3)])], to: url)) { error in
            XCTAssertEqual((error as? FileError)?.path, url.path)
            XCTAssertTrue("\(error)".contains("__metadata__"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: url), original)

        // The rename fails (the target is a non-empty directory) after the data is written.
        let blocked = directory.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafeTensors.write(["w": Tensor([Float(1)])], to: blocked)) { error in
            XCTAssertTrue("\(error)".contains("cannot rename"), "\(error)")
        }
        XCTAssertThrowsError(try SafeTensors.write(["w": Tensor([Float(1)])], to: directory.appendingPathComponent("no/such/dir.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("cannot create the temporary file"), "\(error)")
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)), ["model.safetensors", "blocked"],
                       "failed writes leave no temporary file behind")
        XCTAssertEqual(try Data(contentsOf: url), original)
    }

    func testTracedTensorsCannotBeWritten() {
        var thrown: Error?
        _ = trace([TensorSpec([2], .float32)]) { xs in
            do { _ = try SafeTensors.encode(["x": xs[0]]) } catch { thrown = error }
            return xs
        }
        XCTAssertTrue("\(thrown.map { "\($0)" } ?? "nothing thrown")".contains("traced placeholder"))
    }

    // MARK: Helpers

    private func fixture(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/safetensors"),
                      "missing fixture \(name).\(ext): run Fixtures/safetensors/generate.py")
    }
}

/// Same dtype, shape and values, exactly (NaNs match NaNs; int64 compared as integers).
func assertSameTensor(_ actual: Tensor, _ expected: Tensor, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.dtype, expected.dtype, "dtype of \(name)", file: file, line: line)
    XCTAssertEqual(actual.shape, expected.shape, "shape of \(name)", file: file, line: line)
    guard actual.dtype == expected.dtype, actual.shape == expected.shape else { return }
    if actual.dtype == .int64 {
        XCTAssertEqual(actual.scalars(as: Int64.self), expected.scalars(as: Int64.self), name, file: file, line: line)
    } else {
        assertClose(actual, expected, atol: 0, rtol: 0, name, file: file, line: line)
    }
}
