import EmberData
import Foundation
import XCTest
@testable import EmberCLI

/// `ember train --dataset tfrecord`: TensorFlow's image-classification shards, and the
/// one-line errors for every way the option combination or the files can be wrong.
final class TFRecordTrainTests: XCTestCase {
    /// train-0000{0,1,2}-of-00003 and validation-00000-of-00001: 12x12 RGB images of two
    /// classes, one training image smaller and gray (brought to the first image's size).
    private func shards() throws -> URL {
        let directory = try temporaryDirectory()
        func image(_ index: Int, size: Int = 12, channels: Int = 3) -> (image: Image, label: Int) {
            let label = index % 2
            let pixels = (0..<size * size * channels).map { UInt8(label * 128 + ($0 * 31 + index * 7) % 100) }
            return (Image(height: size, width: size, channels: channels, pixels: pixels), label)
        }
        var train = (0..<24).map { image($0) }
        train[5] = image(5, size: 9, channels: 1)
        try TFRecordImageClassification.write(train, to: directory, prefix: "train", shards: 3, classNames: ["dark", "bright"])
        try TFRecordImageClassification.write((0..<8).map { image($0) }, to: directory, prefix: "validation", shards: 1, compression: .gzip)
        return directory
    }

    func testTrainsOnTensorFlowShards() throws {
        let data = try shards()
        XCTAssertEqual(try TrainingData.detectFormat(at: data.path), "tfrecord")
        let out = try temporaryDirectory().appendingPathComponent("run").path
        XCTAssertNil(message(Train.self, ["--data-dir", data.path, "--model", "linear", "--epochs", "1", "--batch-size", "8",
                                          "--workers", "0", "--out", out]))
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"tfrecord\""), config)
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.csv", encoding: .utf8).split(separator: "\n").count, 2)
    }

    func testBadCombinationsAndFilesAreOneLineErrors() throws {
        let data = try shards()
        let out = try temporaryDirectory().appendingPathComponent("run").path
        func train(_ arguments: [String]) -> String? {
            message(Train.self, arguments + ["--epochs", "1", "--workers", "0", "--out", out])
        }
        XCTAssertEqual(train(["--dataset", "tfrecord"]), "--dataset tfrecord reads files: give --data-dir DIR")
        XCTAssertEqual(train(["--dataset", "tfrecord", "--data-dir", data.path, "--model", "lstm"]),
                       "model 'lstm' reads text: use --dataset reviews or text")
        let file = data.appendingPathComponent("train-00000-of-00003").path
        XCTAssertEqual(train(["--dataset", "tfrecord", "--data-dir", file]),
                       "--data-dir \(file) is a file; --dataset tfrecord reads a directory of train-* and validation-* TFRecord shards")
        let onlyTrain = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: file, toPath: onlyTrain.appendingPathComponent("train-00000-of-00001").path)
        XCTAssertEqual(train(["--dataset", "tfrecord", "--data-dir", onlyTrain.path]),
                       "--data-dir \(onlyTrain.path) holds no validation-* files; --dataset tfrecord expects TensorFlow's shard names, "
                       + "train-00000-of-0000N and validation-00000-of-0000N")
        // A flipped byte inside the second record's data: its CRC no longer holds.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let secondRecord = 12 + Int(bytes[0]) + Int(bytes[1]) << 8 + 4
        bytes[secondRecord + 20] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let corrupt = train(["--dataset", "tfrecord", "--data-dir", data.path])
        XCTAssertEqual(corrupt?.hasPrefix("TFRecord \(file), record 1 at byte \(secondRecord): the data's masked CRC-32C is"), true, corrupt ?? "no error")
        XCTAssertEqual(corrupt?.contains("\n"), false)
    }
}
