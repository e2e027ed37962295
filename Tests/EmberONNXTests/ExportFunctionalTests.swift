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

/// Values that tracing computes from a dynamic size (a mean's divisor, a variance's n − 1, the
/// start of x[:, length − 1], a product batch · length) are computed from the run's sizes in
/// the exported model, so it matches Ember at sizes other than the traced ones, in the
/// importer (1e-5) and in onnxruntime. A value of another form is refused, naming it.
final class ExportSizeDependentValueTests: XCTestCase {
    private let functions: [(String, ([Tensor]) -> [Tensor])] = [
        ("mean_over_sequence", { [$0[0].mean(axis: 1)] }),
        ("variance_over_sequence", { [$0[0].variance(axis: 1)] }),
        ("mean_over_batch_and_sequence", { [$0[0].mean(axes: [0, 1])] }),
        ("last_token", { x in [x[0].narrow(axis: 1, start: x[0].shape[1] - 1, count: 1).squeezed(axis: 1)] }),
        ("last_two_tokens", { x in [x[0].narrow(axis: 1, start: x[0].shape[1] - 2, count: 2)] }),
        ("scaled_by_length", { x in [x[0] * Double(x[0].shape[1]) - Double(x[0].shape[0])] }),
        ("nan_fill", { x in
            // A fill of NaN over the dynamic shape, found NaN again.
            let y = x[0].sum(axis: 2) * 0 + Tensor.full([x[0].shape[0], x[0].shape[1]], .nan)
            return [(y .!= y).cast(to: .float32)]
        }),
        ("positions_clamped", { x in
            let positions = Tensor.arange(x[0].shape[1]).clamp(max: Double(x[0].shape[1] - 2))
            return [x[0].indexSelect(axis: 1, index: positions)]
        }),
    ]

    func testFunctionsOfADynamicLengthMatchEmberAtOtherSizes() throws {
        manualSeed(3)
        let check = try ONNXRuntimeCheck()
        for (name, function) in functions {
            let proto = try ONNXExporter.export(inputs: [ONNXInput("x", [2, 5, 3], dynamicAxes: [0: "batch", 1: "sequence"])],
                                                outputs: ["y"], function)
            let imported = try ONNXModel(proto, path: "\(name).onnx")
            try check.add(name, proto)
            for (batch, length) in [(1, 3), (3, 9), (2, 12)] {
                let x = Tensor.randomNormal([batch, length, 3])
                let expected = noGrad { function([x])[0] }
                let got = try imported(["x": x])["y"]!
                XCTAssertEqual(got.shape, expected.shape, "\(name) at \(batch)x\(length)")
                XCTAssertLessThan((got - expected).abs().max().item(), 1e-5, "\(name) at \(batch)x\(length)")
                try check.addCase(name, inputs: ["x": x], expected: ["y": expected])
            }
        }
        try check.run()
    }

    /// Keras-style: an image model whose height and width are left open averages over them
    /// (a divisor of height · width).
    func testFunctionalModelWithOpenImageSizes() throws {
        manualSeed(5)
        let image = Input(shape: [3, nil, nil], name: "image")
        let pooled = GlobalAveragePooling2D()(Conv2d(3, 4, kernelSize: 3, padding: 1)(image))
        let model = FunctionalModel(inputs: [image], outputs: [Dense(2)(pooled, name: "scores")])
        let proto = try ONNXExporter.export(model)
        let imported = try ONNXModel(proto, path: "open_image.onnx")
        let check = try ONNXRuntimeCheck()
        try check.add("open_image", proto)
        for (batch, height, width) in [(1, 5, 7), (3, 9, 4)] {
            let inputs = ["image": Tensor.randomNormal([batch, 3, height, width])]
            let expected = noGrad { model(inputs) }
            XCTAssertLessThan((try imported(inputs)["scores"]! - expected["scores"]!).abs().max().item(), 1e-5, "\(height)x\(width)")
            try check.addCase("open_image", inputs: inputs, expected: expected)
        }
        try check.run()
    }

    func testAValueOfAnotherFormIsRefusedNamingIt() {
        // length² is not offset + coefficient · length: the trace at length + 2 tells.
        XCTAssertThrowsError(try ONNXExporter.export(inputs: [ONNXInput("x", [2, 5], dynamicAxes: [1: "sequence"])], outputs: ["y"]) { x in
            [x[0] * Double(x[0].shape[1] * x[0].shape[1])]
        }) { error in
            XCTAssertEqual("\(error)", "a constant of shape [] (float32), computed from the size of sequence while tracing, changes with "
                           + "sequence in a way export cannot compute (not offset + coefficient · sizes): export with sequence fixed")
        }
        // length / 2 is the same at 6 and 7: the trace at 8 tells.
        XCTAssertThrowsError(try ONNXExporter.export(inputs: [ONNXInput("x", [2, 6], dynamicAxes: [1: "sequence"])], outputs: ["y"]) { x in
            [x[0] * Double(x[0].shape[1] / 2)]
        }) { error in
            XCTAssertTrue("\(error)".hasPrefix("a constant of shape [] (float32), computed from the size of sequence while tracing"), "\(error)")
        }
        // A slice from a start that moves other than with the end of its axis (the same at 6 and 7).
        XCTAssertThrowsError(try ONNXExporter.export(inputs: [ONNXInput("x", [2, 6], dynamicAxes: [1: "sequence"])], outputs: ["y"]) { x in
            [x[0].narrow(axis: 1, start: x[0].shape[1] / 2, count: 1)]
        }) { error in
            XCTAssertTrue("\(error)".contains("its start or step along axis 1 depends on a dynamic axis other than as a distance from its end"), "\(error)")
        }
    }
}
