import ArgumentParser
import Ember
import EmberModels
import EmberONNX
import Foundation
import XCTest
@testable import EmberCLI

/// `ember export`: its flags' one-line errors, and the files it writes for a model name, a run
/// and a Hugging Face folder. (The exported models run in onnxruntime in EmberONNXTests.)
final class ExportCommandTests: XCTestCase {
    func testBadFlagsGiveOneLineErrors() throws {
        let out = try temporaryDirectory().appendingPathComponent("m.onnx").path
        XCTAssertEqual(message(ExportCommand.self, ["lenet5", "--out", out, "--opset", "12"]), "--opset 12 is not supported: choose 13 to 21")
        XCTAssertEqual(message(ExportCommand.self, ["lenet5", "--out", out, "--dynamic", "batch,height"]),
                       "--dynamic 'batch,height': unknown axis 'height' (allowed: batch, sequence, or none)")
        XCTAssertEqual(message(ExportCommand.self, ["lenet5", "--out", "/no/such/folder/m.onnx"]),
                       "--out '/no/such/folder/m.onnx': the folder /no/such/folder does not exist")
        XCTAssertEqual(message(ExportCommand.self, ["lenet5", "--out", out, "--kv-cache"]), "--kv-cache is for GPT models; lenet5 is not one")
        XCTAssertEqual(message(ExportCommand.self, ["lenet5", "--out", out, "--dynamic", "batch,sequence"]),
                       "--dynamic sequence is for text models; lenet5 reads [1, 28, 28]")
        XCTAssertEqual(message(ExportCommand.self, ["lstm", "--out", out, "--dynamic", "sequence", "--length", "4"])?
            .contains("the number of steps changes with the size of dynamic axis sequence"), true)
        XCTAssertNotNil(message(ExportCommand.self, ["nonsense", "--out", out]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testExportsAModelNameARunAndAHuggingFaceFolder() throws {
        let directory = try temporaryDirectory()
        let image = directory.appendingPathComponent("lenet5.onnx")
        XCTAssertNil(message(ExportCommand.self, ["lenet5", "--out", image.path, "--opset", "13"]))
        let lenet = try ONNXModelFile.read(image)
        XCTAssertEqual(lenet.opsetImport.first?.version, 13)
        XCTAssertEqual(lenet.graph.input.map(\.name), ["input"])
        XCTAssertEqual(lenet.graph.input[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", "", "", ""])

        let run = try temporaryDirectory().path
        try Train.parse(["--model", "linear", "--train-size", "32", "--val-size", "16", "--batch-size", "16", "--out", run,
                         "--workers", "0", "--epochs", "1"]).run()
        let fromRun = directory.appendingPathComponent("run.onnx")
        XCTAssertNil(message(ExportCommand.self, [run, "--out", fromRun.path, "--dynamic", "none"]))
        XCTAssertEqual(try ONNXModelFile.read(fromRun).graph.input[0].type.tensorType.shape.dim.first?.dimValue, 1)

        let bertFolder = directory.appendingPathComponent("bert")
        let config = BERTConfig(vocabSize: 30, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32,
                                maxPositionEmbeddings: 24)
        try BERTModel(config: config).savePretrained(to: bertFolder)
        let bert = directory.appendingPathComponent("bert.onnx")
        XCTAssertNil(message(ExportCommand.self, [bertFolder.path, "--out", bert.path, "--dynamic", "batch,sequence"]))
        let proto = try ONNXModelFile.read(bert)
        XCTAssertEqual(proto.graph.input.map(\.name), ["input_ids", "attention_mask", "token_type_ids"])
        XCTAssertEqual(proto.graph.output.map(\.name), ["last_hidden_state", "pooler_output"])
        XCTAssertEqual(proto.graph.input[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", "sequence"])
        XCTAssertTrue(proto.graph.initializer.contains { $0.name == "embeddings.word_embeddings.weight" })

        // GPT's cached step with its length dynamic: one model for the prompt and the steps after it.
        let step = directory.appendingPathComponent("gpt-step.onnx")
        XCTAssertNil(message(ExportCommand.self, ["gpt", "--out", step.path, "--kv-cache", "--dynamic", "batch,sequence"]))
        let gpt = try ONNXModelFile.read(step)
        XCTAssertEqual(gpt.graph.input[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", "sequence"])
        XCTAssertEqual(gpt.graph.output[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", "sequence", ""])
    }
}
