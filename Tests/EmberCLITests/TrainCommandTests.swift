import Ember
import EmberNN
import EmberTrain
import Foundation
import XCTest
@testable import EmberCLI

/// `ember train`'s parsing, validation, resume rules and a whole small run, through the
/// command's own entry points.
final class TrainCommandTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private func message(_ arguments: [String]) -> String? {
        do {
            var command = try Train.parse(arguments)
            try command.run()
            return nil
        } catch {
            return Train.message(for: error)
        }
    }

    func testBadSettingsAreOneLineErrors() {
        XCTAssertEqual(message(["--model", "vgg"]), "unknown model 'vgg' (available: resnet8, resnet20, resnet18-cifar, mlp, linear)")
        XCTAssertEqual(message(["--epochs", "0"]), "--epochs must be positive, got 0")
        XCTAssertEqual(message(["--dataset", "mnist"]), "--dataset mnist reads files: give --data-dir DIR")
        XCTAssertEqual(message(["--data-dir", "/nonexistent/data"]), "the data directory /nonexistent/data does not exist")
        XCTAssertEqual(message(["--optimizer", "lbfgs"]), "unknown optimizer 'lbfgs' (available: sgd, adam, adamw, rmsprop)")
    }

    func testEveryModelBuildsForImagesAndOnlyTheDenseOnesForFeatures() throws {
        for name in ModelRegistry.names {
            let model = try ModelRegistry.make(name, input: .image(channels: 3, height: 32, width: 32, mean: [], std: []), classes: 7)
            XCTAssertEqual(noGrad { model(Tensor.zeros([2, 3, 32, 32])) }.shape, [2, 7], name)
        }
        XCTAssertEqual(try ModelRegistry.make("resnet8", input: .image(channels: 1, height: 28, width: 28, mean: [], std: []), classes: 10).parameters()[0].shape, [16, 1, 3, 3])
        XCTAssertThrowsError(try ModelRegistry.make("resnet8", input: .features(names: ["a", "b", "c", "d"], mean: nil, std: nil), classes: 3)) {
            XCTAssertTrue("\($0)".contains("takes images"), "\($0)")
        }
    }

    func testATrainedRunResumesOnlyWithItsOwnSettings() throws {
        let out = try temporaryDirectory().path
        let small = ["--train-size", "64", "--val-size", "32", "--batch-size", "32", "--model", "linear", "--out", out, "--workers", "0"]
        XCTAssertNil(message(small + ["--epochs", "1"]))
        for file in ["config.json", "metrics.csv", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "report.svg", "report.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), file)
        }
        XCTAssertEqual(message(small + ["--epochs", "2"]), "\(out) already holds a run; continue it with --resume or choose another --out")
        XCTAssertEqual(message(["--resume", "--out", out, "--lr", "0.5"]),
                       "cannot resume with --lr 0.5: the run in \(out) used the default")
        XCTAssertNil(message(["--resume", "--out", out, "--epochs", "2"]))
        let rows = try String(contentsOfFile: out + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds")
        XCTAssertEqual(rows.count, 3)
    }

    func testTheDatasetFormatIsDetectedFromTheFiles() throws {
        let directory = try temporaryDirectory()
        XCTAssertThrowsError(try TrainingData.detectFormat(at: directory.path)) {
            XCTAssertTrue("\($0)".contains("cannot tell the dataset in"), "\($0)")
        }
        FileManager.default.createFile(atPath: directory.appendingPathComponent("data_batch_1.bin").path, contents: Data())
        XCTAssertEqual(try TrainingData.detectFormat(at: directory.path), "cifar10")
        let csv = directory.appendingPathComponent("iris.csv")
        FileManager.default.createFile(atPath: csv.path, contents: Data("a,label\n1,x\n".utf8))
        XCTAssertEqual(try TrainingData.detectFormat(at: csv.path), "csv")
    }
}
