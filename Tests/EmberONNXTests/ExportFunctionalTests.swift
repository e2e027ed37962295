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

    /// A function with customVJP inside (one nested in another, one capturing a tensor)
    /// exports as its forward operations, with the batch dynamic: the importer and
    /// onnxruntime give the eager values. One drawing random numbers is still refused.
    func testCustomVJPFunctionsExportAsTheirForwardOperations() throws {
        manualSeed(11)
        let scale = Tensor.randomNormal([4])
        let straightThrough = customVJP({ (x: Tensor) in x.relu() }, backward: { _, _, g in g }, name: "straight_through")
        let softClip = customVJP({ (v: [Tensor]) in [straightThrough((v[0] * scale).tanh() * 3), v[1] + 1] },
                                 backward: { _, _, g in g }, name: "soft_clip")
        let function = { (v: [Tensor]) -> [Tensor] in
            let parts = softClip([v[0], v[1]])
            return [parts[0] * parts[1]]
        }
        let proto = try ONNXExporter.export(inputs: [ONNXInput("x", [2, 4], dynamicAxes: [0: "batch"]),
                                                     ONNXInput("y", [2, 4], dynamicAxes: [0: "batch"])],
                                            outputs: ["z"], function)
        XCTAssertFalse(proto.graph.node.contains { $0.opType.lowercased().contains("custom") })
        let imported = try ONNXModel(proto, path: "custom.onnx")
        let check = try ONNXRuntimeCheck()
        try check.add("custom", proto)
        for batch in [1, 3] {
            let inputs = ["x": Tensor.randomNormal([batch, 4]), "y": Tensor.randomNormal([batch, 4])]
            let expected = noGrad { function([inputs["x"]!, inputs["y"]!])[0] }
            let got = try imported(inputs)["z"]!
            XCTAssertLessThan((got - expected).abs().max().item(), 1e-6, "batch \(batch)")
            try check.addCase("custom", inputs: inputs, expected: ["z": expected])
        }

        let noisy = customVJP({ (x: Tensor) in x + Tensor.randomNormal(x.shape) }, backward: { _, _, g in g }, name: "noisy")
        XCTAssertThrowsError(try ONNXExporter.export(inputs: [ONNXInput("x", [2, 4])], outputs: ["z"]) { v in [noisy(v[0])] }) { error in
            XCTAssertTrue("\(error)".contains("custom<noisy> draws random numbers"), "\(error)")
        }
        try check.run()
    }
}
