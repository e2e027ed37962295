import Ember
import EmberModels
import EmberONNX
import Foundation
import XCTest

/// The README's "Exporting to ONNX" snippet, line for line (the file goes to a temporary folder).
final class ReadmeExportTourTests: XCTestCase {
    func testReadmeExportSnippet() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-readme-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let lenet = LeNet5(classes: 10)
        let model = try ONNXExporter.export(lenet, input: ONNXInput("input", [1, 1, 32, 32], dynamicAxes: [0: "batch"]))
        try ONNXExporter.write(model, to: folder.appendingPathComponent("lenet5.onnx"))

        // Any traceable function, its dynamic axes named.
        let softmax = try ONNXExporter.export(inputs: [ONNXInput("x", [2, 8], dynamicAxes: [0: "batch"])], outputs: ["y"]) { x in
            [x[0].softmax(axis: -1)]
        }

        // The zoo's models with Hugging Face's input and output names.
        let config = BERTConfig(vocabSize: 1000, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 128)
        let bert = try ZooExport(dynamicAxes: ["batch", "sequence"]).export(BERTModel(config: config))

        XCTAssertEqual(try ONNXModelFile.read(folder.appendingPathComponent("lenet5.onnx")).graph.input[0].name, "input")
        XCTAssertEqual(model.graph.output.map(\.name), ["output"])
        XCTAssertEqual(softmax.graph.output[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", ""])
        XCTAssertEqual(bert.graph.input.map(\.name), ["input_ids", "attention_mask", "token_type_ids"])
    }
}
