import Ember
import EmberNN
@testable import EmberONNX
import XCTest

/// A functional model of two named inputs and two named outputs exports under those names,
/// with the batch dynamic, and runs the same in Ember's importer and in onnxruntime.
final class ExportFunctionalTests: XCTestCase {
    func testTwoInputsAndTwoOutputsByName() throws {
        manualSeed(7)
        let title = Input(shape: [4], name: "title")
        let body = Input(shape: [6], name: "body")
        let features = Concatenate()([Dense(8, activation: .relu)(title), Dense(8, activation: .gelu)(body)])
        let model = FunctionalModel(inputs: [title, body],
                                    outputs: [Dense(1)(features, name: "priority"), Dense(3, activation: .softmax)(features, name: "department")])
        let proto = try ONNXExporter.export(model)
        XCTAssertEqual(proto.graph.input.map(\.name), ["title", "body"])
        XCTAssertEqual(proto.graph.output.map(\.name), ["priority", "department"])

        let imported = try ONNXModel(proto, path: "functional.onnx")
        let check = try ONNXRuntimeCheck()
        try check.add("functional", proto)
        for batch in [1, 5] {
            let inputs = ["title": Tensor.randomNormal([batch, 4]), "body": Tensor.randomNormal([batch, 6])]
            let expected = noGrad { model(inputs) }
            let got = try imported(inputs)
            for name in ["priority", "department"] {
                let difference = (got[name]! - expected[name]!).abs().max().item()
                XCTAssertLessThan(difference, 1e-5, "\(name), batch \(batch)")
            }
            try check.addCase("functional", inputs: inputs, expected: expected)
        }
        try check.run()
    }
}
