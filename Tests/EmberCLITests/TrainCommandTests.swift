import Ember
import EmberNN
import EmberRuns
import EmberTrain
import Foundation
import XCTest
@testable import EmberCLI

/// `ember train`'s parsing, validation, resume rules and a whole small run, through the
/// command's own entry points.
final class TrainCommandTests: XCTestCase {
    private func message(_ arguments: [String]) -> String? {
        EmberCLITests.message(Train.self, arguments)
    }

    func testBadSettingsAreOneLineErrors() {
        XCTAssertEqual(message(["--model", "vgg"]), "--model must be one of \(ModelRegistry.names.joined(separator: ", ")), got 'vgg'")
        XCTAssertEqual(message(["--model", "lstm", "--dataset", "shapes"]), "model 'lstm' reads text: use --dataset reviews or text")
        XCTAssertEqual(message(["--model", "gpt", "--dataset", "cifar10", "--data-dir", "/tmp"]),
                       "model 'gpt' reads text: use --dataset reviews or corpus")
        XCTAssertEqual(message(["--model", "gpt", "--dataset", "text", "--data-dir", "/tmp"]),
                       "model 'gpt' is a language model: train it on --dataset reviews or corpus (a text file)")
        XCTAssertEqual(message(["--dataset", "reviews"]), "--dataset reviews is text: use --model transformer, lstm, bert or gpt")
        XCTAssertEqual(message(["--epochs", "0"]), "--epochs must be positive, got 0")
        XCTAssertEqual(message(["--dataset", "mnist"]), "--dataset mnist reads files: give --data-dir DIR")
        XCTAssertEqual(message(["--data-dir", "/nonexistent/data"]), "the data directory /nonexistent/data does not exist")
        XCTAssertEqual(message(["--optimizer", "lbfgs"]), "--optimizer must be one of sgd, adam, adamw, rmsprop, got 'lbfgs'")
    }

    func testEveryModelBuildsForItsKindOfInput() throws {
        for name in ModelRegistry.imageModels + ModelRegistry.denseModels {
            let model = try ModelRegistry.make(name, input: .image(channels: 3, height: 32, width: 32, mean: [], std: []), classes: 7)
            XCTAssertEqual(noGrad { model(Tensor.zeros([2, 3, 32, 32])) }.shape, [2, 7], name)
        }
        let tokens = ModelInput.tokens(tokenizer: nil, vocabularySize: 257, maxLength: 12, paddingID: 256)
        let ids = Tensor((0..<24).map { Int64($0 % 256) }, shape: [2, 12])
        for name in ModelRegistry.textModels {
            let model = try ModelRegistry.make(name, input: tokens, classes: 3)
            XCTAssertEqual(noGrad { model(ids) }.shape, [2, 3], name)
        }
        let gpt = try ModelRegistry.make("gpt", input: tokens, classes: 257)
        XCTAssertEqual(noGrad { gpt(ids) }.shape, [2, 12, 257])
        let features = ModelInput.features(names: ["a", "b", "c", "d"], mean: nil, std: nil)
        let mlp = try ModelRegistry.make("mlp", input: features, classes: 3)
        XCTAssertEqual(noGrad { mlp(Tensor.zeros([5, 4])) }.shape, [5, 3])
        XCTAssertEqual(try ModelRegistry.make("resnet8", input: .image(channels: 1, height: 28, width: 28, mean: [], std: []), classes: 10)
                        .parameters()[0].shape, [16, 1, 3, 3])
        func failure(_ name: String, _ input: ModelInput) -> String {
            do { _ = try ModelRegistry.make(name, input: input, classes: 3); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(failure("resnet8", features), "model 'resnet8' cannot read feature vectors; use --model mlp or linear")
        XCTAssertEqual(failure("resnet50", .image(channels: 1, height: 64, width: 64, mean: [], std: [])),
                       "model 'resnet50' takes RGB images, the dataset has 1 channel(s)")
        XCTAssertEqual(failure("lenet5", .image(channels: 1, height: 20, width: 20, mean: [], std: [])),
                       "model 'lenet5' takes 32x32 images (or 28x28, padded), the dataset's are 20x20")
        XCTAssertEqual(failure("lstm", .image(channels: 1, height: 28, width: 28, mean: [], std: [])),
                       "model 'lstm' reads text, but the dataset holds images; use --dataset reviews or text")
        XCTAssertEqual(failure("resnet8", tokens), "model 'resnet8' does not read text; use --model transformer, lstm, bert, gpt")
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

    /// A bf16 run (fp16: the same with a loss scaler) saves its precision, reports it, and
    /// resumes only in it.
    func testMixedPrecisionRunsSaveAndKeepTheirPrecision() throws {
        for precision in ["bf16", "fp16"] {
            let out = try temporaryDirectory().path
            let small = ["--train-size", "64", "--val-size", "32", "--batch-size", "32", "--model", "resnet8", "--out", out, "--workers", "0"]
            XCTAssertNil(message(small + ["--epochs", "1", "--precision", precision]))
            let config = try TrainConfig.read(from: URL(fileURLWithPath: out + "/config.json"))
            XCTAssertEqual(config.effectivePrecision.rawValue, precision)
            XCTAssertEqual(message(["--resume", "--out", out, "--precision", "fp32"]),
                           "cannot resume with --precision fp32: the run in \(out) used \(precision)")
            XCTAssertNil(message(["--resume", "--out", out, "--epochs", "2"]))
        }
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
        let texts = directory.appendingPathComponent("reviews.csv")
        FileManager.default.createFile(atPath: texts.path, contents: Data("text,label\nfine film,pos\n".utf8))
        XCTAssertEqual(try TrainingData.detectFormat(at: texts.path), "text")
        let book = directory.appendingPathComponent("book.txt")
        FileManager.default.createFile(atPath: book.path, contents: Data("Call me Ishmael.".utf8))
        XCTAssertEqual(try TrainingData.detectFormat(at: book.path), "corpus")
    }

    /// Datasets that cannot train a model are refused before the first step, naming the files:
    /// empty splits, splits of different image sizes (which used to stop at validation, after
    /// a whole epoch), a CSV without features or with NaN, an empty text.
    func testUnusableDatasetsAreRefusedBeforeTraining() throws {
        let directory = try temporaryDirectory()
        func folder(_ name: String, _ files: [String: Data]) throws -> String {
            let url = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for (file, data) in files { try data.write(to: url.appendingPathComponent(file)) }
            return url.path
        }
        func train(_ arguments: [String]) -> String? {
            message(arguments + ["--out", directory.appendingPathComponent("out").path, "--workers", "0", "--epochs", "1"])
        }
        let record = Data(count: 3073)
        let cifarTrain = Dictionary(uniqueKeysWithValues: (1...5).map { ("data_batch_\($0).bin", Data()) })
        let noTraining = try folder("cifar-a", cifarTrain.merging(["test_batch.bin": record]) { $1 })
        XCTAssertEqual(train(["--data-dir", noTraining]), "CIFAR-10 in \(noTraining): the training split holds no images")
        let noTest = try folder("cifar-b", cifarTrain.mapValues { _ in record }.merging(["test_batch.bin": Data()]) { $1 })
        XCTAssertEqual(train(["--data-dir", noTest]), "CIFAR-10 in \(noTest): the test split holds no images")

        func idx(_ dimensions: [Int]) -> Data {
            Data([0, 0, 8, UInt8(dimensions.count)] + dimensions.flatMap { withUnsafeBytes(of: UInt32($0).bigEndian, Array.init) }
                 + [UInt8](repeating: 0, count: dimensions.reduce(1, *)))
        }
        func mnist(_ name: String, train: Int, test: Int, testSize: Int = 28) throws -> String {
            try folder(name, ["train-images-idx3-ubyte": idx([train, 28, 28]), "train-labels-idx1-ubyte": idx([train]),
                              "t10k-images-idx3-ubyte": idx([test, testSize, testSize]), "t10k-labels-idx1-ubyte": idx([test])])
        }
        let emptyTrain = try mnist("mnist-a", train: 0, test: 4), emptyTest = try mnist("mnist-b", train: 4, test: 0)
        XCTAssertEqual(train(["--data-dir", emptyTrain]), "mnist in \(emptyTrain): the training split holds no images")
        XCTAssertEqual(train(["--data-dir", emptyTest]), "mnist in \(emptyTest): the test split holds no images")
        let sizes = try mnist("mnist-c", train: 4, test: 4, testSize: 20)
        XCTAssertEqual(train(["--data-dir", sizes, "--model", "mlp"]),
                       "mnist in \(sizes): the training images are 28x28x1, the test images 20x20x1; both splits need one size")

        let rows = (0..<6).map { "\($0),\($0 % 2)" }
        let labelsOnly = directory.appendingPathComponent("labels.csv")
        try Data((["label"] + rows.map { String($0.suffix(1)) }).joined(separator: "\n").utf8).write(to: labelsOnly)
        XCTAssertEqual(train(["--data-dir", labelsOnly.path, "--dataset", "csv", "--model", "mlp"]),
                       "CSV \(labelsOnly.path): has no feature columns: its only column, \"label\", is the label")
        let nan = directory.appendingPathComponent("nan.csv")
        try Data((["a,label", "nan,0"] + rows).joined(separator: "\n").utf8).write(to: nan)
        XCTAssertEqual(train(["--data-dir", nan.path, "--model", "mlp"]),
                       "CSV \(nan.path), line 2, column 1 (\"a\"): \"nan\" is not a finite number")
        let texts = directory.appendingPathComponent("texts.csv")
        try Data((["text,label", "\"\",neg"] + (0..<6).map { "film \($0),pos" }).joined(separator: "\n").utf8).write(to: texts)
        XCTAssertEqual(train(["--data-dir", texts.path, "--model", "lstm"]),
                       "\(texts.path) holds a text of no tokens (\"\", class 0): every text needs at least one")
    }

    /// --train-size and --val-size count a language model's windows, from a text file too.
    func testSizesApplyToATextCorpus() throws {
        let book = try temporaryDirectory().appendingPathComponent("book.txt")
        try Data(String(repeating: "Call me Ishmael. Some years ago, never mind how long. ", count: 40).utf8).write(to: book)
        var config = TrainConfig()
        (config.model, config.dataset, config.dataDir, config.maxLength, config.batchSize) = ("gpt", "corpus", book.path, 8, 1)
        (config.trainSize, config.valSize) = (3, 2)
        let data = try TrainingData.load(config, workers: 0)
        XCTAssertEqual(data.train.batchesPerEpoch, 3)
        XCTAssertEqual(data.validation.batchesPerEpoch, 2)
    }
}
