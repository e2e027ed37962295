import Ember
import Foundation
import XCTest
@testable import EmberData
@testable import EmberIO

/// TFRecordFixtures/expected.json, written by generate_tfrecord_fixtures.py: TensorFlow's
/// parse of the Examples it wrote.
private struct TFRecordFixtures: Decodable {
    struct Expected: Decodable {
        struct Pixels: Decodable {
            let height: Int, width: Int, channels: Int, pixels: String
        }
        let label: Int64
        let text: String
        let features: [[Float]]
        let ids: [Int64]
        let weight: Float
        let image: Pixels
        let serialized: String
    }
    let examples: [Expected]

    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "TFRecordFixtures"), "missing fixture \(name)")
    }

    static func load() throws -> TFRecordFixtures {
        try JSONDecoder().decode(TFRecordFixtures.self, from: Data(contentsOf: url("expected.json")))
    }
}

final class TFRecordTests: XCTestCase {
    /// The fixture's spec, as generate_tfrecord_fixtures.py gives it to tf.io.parse_single_example.
    private let spec: [String: FeatureSpec] = [
        "image/encoded": .image, "image/class/label": .fixed(shape: [], dtype: .int64), "image/class/text": .bytes,
        "features": .fixed(shape: [2, 3], dtype: .float32), "ids": .variable(dtype: .int64),
        "weight": .fixed(shape: [], dtype: .float32, defaultValue: [1.5]),
    ]

    func testReadsWhatTensorFlowWrote() throws {
        let fixtures = try TFRecordFixtures.load()
        for name in ["examples.tfrecord", "examples.tfrecord.gz"] {
            let dataset = try TFRecordDataset(files: [TFRecordFixtures.url(name)], spec: spec)
            XCTAssertEqual(dataset.files[0].compression, name.hasSuffix(".gz") ? .gzip : TFRecordFile.Compression.none)
            XCTAssertEqual(dataset.count, fixtures.examples.count)
            for (index, expected) in fixtures.examples.enumerated() {
                let parsed = dataset[index]
                XCTAssertEqual(parsed.tensors["image/class/label"]!.scalars(as: Int64.self), [expected.label])
                XCTAssertEqual(parsed.bytes["image/class/text"]!, [Array(expected.text.utf8)])
                XCTAssertEqual(parsed.tensors["features"]!.shape, [2, 3])
                XCTAssertEqual(parsed.tensors["features"]!.scalars(as: Float.self), expected.features.flatMap { $0 })
                XCTAssertEqual(parsed.tensors["ids"]!.scalars(as: Int64.self), expected.ids)
                XCTAssertEqual(parsed.tensors["weight"]!.scalars(as: Float.self), [expected.weight])
                let image = expected.image
                XCTAssertEqual(parsed.images["image/encoded"]!,
                               Image(height: image.height, width: image.width, channels: image.channels, pixels: bytes(hex: image.pixels)))
                // Ember's encoding is byte for byte TensorFlow's deterministic serialization.
                XCTAssertEqual(try dataset.example(at: index).serialized, bytes(hex: expected.serialized))
            }
        }
    }

    func testReadsTensorFlowsImageClassificationLayout() throws {
        let directory = try TFRecordFixtures.url("classification")
        let train = try TFRecordImageClassification(files: TFRecordDataset.shards(in: directory, prefix: "train-"))
        let validation = try TFRecordImageClassification(files: TFRecordDataset.shards(in: directory, prefix: "validation-"))
        XCTAssertEqual(train.records.files.map(\.url.lastPathComponent), ["train-00000-of-00002", "train-00001-of-00002"])
        XCTAssertEqual(train.count, 16)
        XCTAssertEqual(validation.count, 8)
        XCTAssertEqual(train.classNames, ["dark", "bright"])
        // Interleaved shards: shard 0 holds the even examples, shard 1 the odd (labels alternate).
        XCTAssertEqual((0..<16).map { train[$0].label }, (0..<16).map { $0 % 2 })
        XCTAssertEqual(train[0].image.width, 8)
        XCTAssertEqual(train[0].image.channels, 3)
    }

    func testRoundTripThroughFilesPlainAndGzip() throws {
        let directory = try temporaryDirectory(self)
        let example = Example(["b": .bytes([[], [0, 255, 7]]), "f": .floats([0, -1.5, .infinity, .greatestFiniteMagnitude]),
                               "i": .int64s([.min, -1, 0, 1, .max]), "empty": .floats([])])
        for compression in [TFRecordFile.Compression.none, .gzip] {
            let url = directory.appendingPathComponent("records-\(compression)")
            let records = [example.serialized, [], Array(repeating: 9, count: 70_000)]
            try TFRecordFile.write(records, to: url, compression: compression)
            let file = try TFRecordFile(contentsOf: url)
            XCTAssertEqual(file.compression, compression)
            XCTAssertEqual(file.records, records)
            XCTAssertEqual(try Example(serialized: file[0][...]), example)
        }
    }

    func testReadsUnpackedRepeatedNumbersAndSkipsUnknownFields() throws {
        var list = ProtobufWriter()
        list.int64(1, 5)
        list.int64(1, -2)
        var floats = ProtobufWriter()
        floats.float(1, 2.5)
        var example = ProtobufWriter()
        example.int64(7, 99)  // unknown field
        example.message(1) { features in
            features.message(1) { entry in
                entry.string(1, "i")
                entry.message(2) { $0.bytes(3, list.bytes) }
            }
            features.message(1) { entry in
                entry.string(1, "f")
                entry.message(2) { $0.bytes(2, floats.bytes) }
            }
        }
        XCTAssertEqual(try Example(serialized: example.bytes[...]), Example(["i": .int64s([5, -2]), "f": .floats([2.5])]))
    }

    func testFeedsAPipeline() throws {
        let url = try writeRecords((0..<5).map { Example(["x": .floats([Float($0), 1]), "y": .int64s([Int64($0)])]).serialized })
        let dataset = try TFRecordDataset(files: [url], spec: ["x": .fixed(shape: [2], dtype: .float32), "y": .fixed(shape: [], dtype: .int64)])
        let batches = Array(Pipeline(dataset).map { ($0.tensors["x"]!, $0.tensors["y"]!) }.batch(size: 2))
        XCTAssertEqual(batches.map(\.count), [2, 2, 1])
        XCTAssertEqual(batches[1].inputs.scalars(as: Float.self), [2, 1, 3, 1])
        XCTAssertEqual(batches[2].targets.scalars(as: Int64.self), [4])
    }

    func testInterleavesShards() {
        let order = TFRecordDataset.interleaved([3, 1, 2])
        XCTAssertEqual(order.map { [$0.file, $0.record] }, [[0, 0], [1, 0], [2, 0], [0, 1], [2, 1], [0, 2]])
    }

    // MARK: Corrupt files: one line naming the file, the record and its offset.

    private func writeRecords(_ records: [[UInt8]], compression: TFRecordFile.Compression = .none) throws -> URL {
        let url = try temporaryDirectory(self).appendingPathComponent("data.tfrecord")
        try TFRecordFile.write(records, to: url, compression: compression)
        return url
    }

    private func assertOneLine(_ body: @autoclosure () throws -> some Any, _ fragments: String..., line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), "not one line: \(message)", line: line)
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "expected “\(fragment)” in: \(message)", line: line)
            }
        }
    }

    func testBadDataCRCIsRefusedWithFileAndOffset() throws {
        let url = try writeRecords([[1, 2, 3], [4, 5, 6, 7]])
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[19 + 12 + 2] ^= 0x10  // a data byte of record 1, which starts at byte 19
        try Data(bytes).write(to: url)
        assertOneLine(try TFRecordFile(contentsOf: url), "TFRecord \(url.path), record 1 at byte 19:", "data's masked CRC-32C", "corrupt")
    }

    func testBadLengthCRCIsRefused() throws {
        let url = try writeRecords([[1, 2, 3]])
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[9] ^= 1
        try Data(bytes).write(to: url)
        assertOneLine(try TFRecordFile(contentsOf: url, compression: .none), "record 0 at byte 0", "length's masked CRC-32C")
    }

    func testTruncatedRecordsAreRefused() throws {
        let url = try writeRecords([[1, 2, 3], Array(repeating: 7, count: 100)])
        let bytes = try Data(contentsOf: url)
        for cut in [bytes.count - 1, bytes.count - 50, 19 + 5] {
            try bytes.prefix(cut).write(to: url)
            assertOneLine(try TFRecordFile(contentsOf: url), "record 1 at byte 19", "truncated")
        }
        let gzipped = try writeRecords([[1, 2, 3]], compression: .gzip)
        try Data(contentsOf: gzipped).dropLast(6).write(to: gzipped)
        assertOneLine(try TFRecordFile(contentsOf: gzipped), "TFRecord \(gzipped.path): GZIP compression", "truncated")
    }

    func testBadProtobufIsRefused() throws {
        let url = try writeRecords([Example(["a": .int64s([1])]).serialized, [0x0A, 0x05, 0x0A]])
        assertOneLine(try TFRecordDataset(files: [url], spec: ["a": .variable(dtype: .int64)]),
                      "record 1 at byte", "not a tf.train.Example", "declares 5 bytes")
        let wireType = try writeRecords([[0x0B]])
        assertOneLine(try TFRecordDataset(files: [wireType], spec: [:]), "record 0 at byte 0", "wire type 3")
        let varint = try writeRecords([[0x08] + Array(repeating: 0xFF, count: 11)])
        assertOneLine(try TFRecordDataset(files: [varint], spec: [:]), "longer than")
    }

    func testRecordsThatDoNotFitTheSpecAreRefused() throws {
        let url = try writeRecords([Example(["x": .floats([1, 2]), "n": .int64s([1 << 40]), "b": .bytes([[1]])]).serialized])
        func check(_ spec: [String: FeatureSpec], _ fragment: String, line: UInt = #line) {
            assertOneLine(try TFRecordDataset(files: [url], spec: spec), "record 0 at byte 0", fragment, line: line)
        }
        check(["x": .fixed(shape: [3], dtype: .float32)], "feature \"x\" holds 2 values, the shape [3] needs 3")
        check(["x": .fixed(shape: [2], dtype: .int64)], "feature \"x\" is a float_list, a int64 feature is read from a int64_list")
        check(["y": .fixed(shape: [], dtype: .float32)], "feature \"y\" is missing and has no default value")
        check(["n": .variable(dtype: .int32)], "holds 1099511627776, which does not fit an int32 feature")
        check(["b": .image], "feature \"b\" is not an image that can be read")
        check(["x": .image], "feature \"x\" is a float_list, an image is a bytes_list")
        // The same spec with images unchecked opens; the images are decoded on access.
        XCTAssertEqual(try TFRecordDataset(files: [url], spec: ["b": .image], checkImages: false).count, 1)
    }

    func testJPEGImagesDecodeAndBrokenOnesAreNamed() throws {
        let jpeg = Array(try Data(contentsOf: JPEGFixtures.url("progressive_420.jpg")))
        let url = try writeRecords([Example(["image": .bytes([jpeg])]).serialized])
        XCTAssertEqual(try TFRecordDataset(files: [url], spec: ["image": .image])[0].images["image"],
                       try Image(contentsOf: JPEGFixtures.url("progressive_420.jpg")))
        let broken = try writeRecords([Example(["image": .bytes([[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]])]).serialized])
        assertOneLine(try TFRecordDataset(files: [broken], spec: ["image": .image]), "feature \"image\" is not an image that can be read", "the file ends before the frame header (SOF)")
    }

    func testNotATFRecordFile() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("notes.txt")
        try Data("hello, this is text and no record".utf8).write(to: url)
        assertOneLine(try TFRecordFile(contentsOf: url), "record 0 at byte 0", "not a TFRecord file")
        assertOneLine(try TFRecordFile(contentsOf: url.appendingPathExtension("missing")), "no such file")
    }

    func testWritesShardedImageClassificationDatasets() throws {
        let directory = try temporaryDirectory(self)
        let images = (0..<7).map { index in
            (image: Image(height: 3, width: 4, channels: 3, pixels: (0..<36).map { UInt8(($0 * 7 + index * 13) % 256) }), label: index % 3)
        }
        let files = try TFRecordImageClassification.write(images, to: directory, prefix: "train", shards: 3,
                                                          classNames: ["a", "b", "c"], compression: .gzip)
        XCTAssertEqual(files.map(\.lastPathComponent), ["train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003"])
        let dataset = try TFRecordImageClassification(files: TFRecordDataset.shards(in: directory, prefix: "train-"))
        XCTAssertEqual(dataset.classNames, ["a", "b", "c"])
        // Example i went to shard i mod 3, and interleaving reads them back in the same order.
        XCTAssertEqual((0..<7).map { dataset[$0].label }, images.map(\.label))
        XCTAssertEqual((0..<7).map { dataset[$0].image }, images.map(\.image))
    }
}

/// The reverse of the committed fixtures: TensorFlow reads files Ember wrote, through
/// generate_tfrecord_fixtures.py --read (plain and GZIP, every feature kind, a PNG image).
final class TFRecordInteropTests: XCTestCase {
    func testTensorFlowReadsEmbersFiles() throws {
        guard let python = ProcessInfo.processInfo.environment["EMBER_TENSORFLOW_PYTHON"] else {
            throw XCTSkip("set EMBER_TENSORFLOW_PYTHON to a python with tensorflow-cpu installed to read Ember's TFRecord files with TensorFlow itself")
        }
        let directory = try temporaryDirectory(self)
        let image = Image(height: 5, width: 7, channels: 3, pixels: (0..<105).map { UInt8($0 * 37 % 256) })
        var example = TFRecordImageClassification.example(image: image, label: 3, className: "three")
        example["floats"] = .floats([1.5, -0.25, 65504])
        example["ints"] = .int64s([.min, -1, 0, .max])
        example["empty"] = .bytes([])
        let plain = directory.appendingPathComponent("ember.tfrecord"), gzipped = directory.appendingPathComponent("ember.tfrecord.gz")
        try TFRecordFile.write([example.serialized, Example(["n": .int64s([7])]).serialized], to: plain)
        try TFRecordFile.write([example.serialized], to: gzipped, compression: .gzip)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("generate_tfrecord_fixtures.py")
        process.arguments = [script.path, "--read", plain.path, gzipped.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let lines = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(lines.map { $0["file"] as? String }, ["ember.tfrecord", "ember.tfrecord", "ember.tfrecord.gz"])
        for line in [lines[0], lines[2]] {
            let features = try XCTUnwrap(line["features"] as? [String: Any])
            let decoded = try XCTUnwrap(features["image/encoded"] as? [String: Any])
            XCTAssertEqual(decoded["shape"] as? [Int], [5, 7, 3])
            XCTAssertEqual(decoded["pixels"] as? String, image.pixels.map { String(format: "%02x", $0) }.joined())
            XCTAssertEqual(features["image/class/label"] as? [Int], [3])
            XCTAssertEqual(features["image/class/text"] as? [String], [Array("three".utf8).map { String(format: "%02x", $0) }.joined()])
            XCTAssertEqual(features["floats"] as? [Double], [1.5, -0.25, 65504])
            XCTAssertEqual(features["ints"] as? [Int], [.min, -1, 0, .max])
            XCTAssertEqual(features["empty"] as? [String], [])
        }
        XCTAssertEqual((lines[1]["features"] as? [String: Any])?["n"] as? [Int], [7])
    }
}
