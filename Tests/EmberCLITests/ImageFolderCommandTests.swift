import ArgumentParser
import Foundation
import XCTest
@testable import EmberCLI
import EmberRuns

/// `ember train --dataset folder` on JPEG (and PNG) files in torchvision's layout, then
/// `ember eval` and `ember predict` on JPEG files, and the one-line errors.
final class ImageFolderCommandTests: XCTestCase {
    /// The JPEG fixtures of the EmberData tests (written by Pillow).
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../EmberDataTests/Formats/JPEGFixtures").standardizedFileURL

    /// Colour, gray, progressive and EXIF-rotated JPEGs of several sizes in `a/` and `b/`.
    private func classFolders(in root: URL, files: Int = 5) throws {
        let names = ["baseline_420", "gray", "progressive_444", "exif_orientation_6", "cmyk", "restart_markers", "baseline_444"]
        for (label, name) in ["a", "b"].enumerated() {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for index in 0..<files {
                let fixture = names[(index + label * 3) % names.count]
                try FileManager.default.copyItem(at: fixtures.appendingPathComponent("\(fixture).jpg"),
                                                 to: folder.appendingPathComponent("\(index).jpg"))
            }
        }
    }

    private func train(_ arguments: [String]) throws -> String {
        let out = try temporaryDirectory().path
        try Train.parse(arguments + ["--out", out, "--workers", "2", "--epochs", "1", "--batch-size", "4"]).run()
        return out
    }

    func testTrainValFoldersTrainThenEvalAndPredictOnJPEG() throws {
        let root = try temporaryDirectory()
        try classFolders(in: root.appendingPathComponent("train"))
        try classFolders(in: root.appendingPathComponent("val"), files: 2)
        XCTAssertEqual(try TrainingData.detectFormat(at: root.path), "folder")

        let run = try train(["--model", "resnet8", "--data-dir", root.path, "--image-size", "16"])
        let card = try SavedRun(path: run).card
        XCTAssertEqual(card.input, .image(channels: 3, height: 16, width: 16, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
        XCTAssertEqual(card.classNames, ["a", "b"])
        XCTAssertNil(message(Eval.self, [run, "--json"]))

        let photo = fixtures.appendingPathComponent("exif_orientation_8.jpg").path
        let output = try Predict.parse([run, photo, root.appendingPathComponent("val/b").path, "--top-k", "1"]).output()
        let lines = output.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, output)
        XCTAssertTrue(lines[0].hasPrefix(photo + ": a ") || lines[0].hasPrefix(photo + ": b "), output)
        XCTAssertTrue(lines[1].hasPrefix(root.appendingPathComponent("val/b/0.jpg").path + ": "), output)

        let truncated = root.appendingPathComponent("cut.jpg")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: photo))
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        XCTAssertEqual(message(Predict.self, [run, truncated.path]),
                       "JPEG \(truncated.path): cannot read the header: Invalid JPEG file structure: missing SOS marker "
                       + "(the file is truncated: it does not end with the end-of-image marker FF D9)")
    }

    func testClassFoldersAloneAreSplitForValidation() throws {
        let root = try temporaryDirectory()
        try classFolders(in: root)
        let run = try train(["--model", "linear", "--dataset", "folder", "--data-dir", root.path, "--image-size", "8", "--val-size", "3"])
        let report = try String(contentsOf: URL(fileURLWithPath: run).appendingPathComponent("metrics.csv"), encoding: .utf8)
        XCTAssertEqual(report.split(separator: "\n").count, 2, report)
        var config = TrainConfig()
        (config.model, config.dataset, config.dataDir, config.valSize, config.imageSize) = ("linear", "folder", root.path, 3, 8)
        let data = try TrainingData.load(config, workers: 0)
        XCTAssertEqual(data.validation.batchesPerEpoch, 1)
        XCTAssertTrue(data.description.contains("7 training and 3 validation images 8x8x3, 2 classes"), data.description)
    }

    func testFolderSettingsAndLayoutsAreOneLineErrors() throws {
        let root = try temporaryDirectory()
        try classFolders(in: root.appendingPathComponent("train"))
        func trainMessage(_ arguments: [String]) -> String? {
            message(Train.self, arguments + ["--out", root.appendingPathComponent("out").path, "--workers", "0", "--epochs", "1"])
        }
        XCTAssertEqual(trainMessage(["--dataset", "folder", "--data-dir", root.path, "--image-size", "4"]),
                       "--image-size must be 8 to 1024 (pixels per side), got 4")
        XCTAssertEqual(trainMessage(["--image-size", "32"]), "--image-size is for --dataset folder (the other datasets' images have their own size)")
        XCTAssertEqual(trainMessage(["--dataset", "folder"]), "--dataset folder reads files: give --data-dir DIR")

        let stray = root.appendingPathComponent("val/c")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("gray.jpg"), to: stray.appendingPathComponent("1.jpg"))
        XCTAssertEqual(trainMessage(["--dataset", "folder", "--data-dir", root.path]),
                       "image folder \(root.path)/val: the class folder \"c\" is not one of the 2 classes (a, b)")
        try FileManager.default.removeItem(at: stray)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("train/c"), withIntermediateDirectories: true)
        XCTAssertEqual(trainMessage(["--dataset", "folder", "--data-dir", root.path]),
                       "image folder \(root.path)/train: class folder \"c\" holds no images (readable: .jfif, .jpe, .jpeg, .jpg, .pbm, .pgm, .png, .pnm, .ppm)")
    }
}
