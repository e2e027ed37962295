import Ember
import EmberNN
@testable import EmberONNX
import XCTest

/// Each primitive's ONNX mapping, run in onnxruntime against Ember at every opset where the
/// mapping changes (13: attributes and written-out LayerNormalization and GELU; 17: native
/// LayerNormalization; 18: reduction axes as inputs; 20 and 21: native Gelu). Single
/// float32 operations: atol 1e-5, rtol 1e-5.
final class ExportPrimitiveTests: XCTestCase {
    /// Functions covering the primitives that inference graphs use, by name, with their inputs.
    private func functions() -> [(String, [Tensor], ([Tensor]) -> [Tensor])] {
        let x = Tensor.randomNormal([2, 3, 6, 5])
        let w = Tensor.randomNormal([4, 3, 3, 3]) * 0.3
        let grouped = Tensor.randomNormal([6, 1, 3, 3]) * 0.3
        let ints = Tensor([Int64(-7), -3, 0, 5, 9, 12], shape: [2, 3])
        let divisors = Tensor([Int64(2), -4, 3, 3, -5, 7], shape: [2, 3])
        let positive = Tensor.randomUniform([3, 4], low: 0.5, high: 2)
        let index = Tensor([Int64(2), 0, 1, 1, 3, 0], shape: [2, 3])
        let (scale, shift) = (Tensor.randomNormal([6, 5]), Tensor.randomNormal([6, 5]))
        return [
            ("unary", [x], { v in
                let a = v[0]
                let signs = a.sign() + a.abs() + a.exp() + a.sin() + a.cos() + a.tanh() + a.sigmoid() + a.relu() + a.erf() + a.gelu()
                return [signs, (a * 3).floor() + (a * 3).ceil() + (a * 3 + 0.5).rounded(), a.abs().sqrt() + (a.abs() + 1).rsqrt() + (a.abs() + 1).log(), -a]
            }),
            ("binary_compare_select", [positive, positive.flipped(axes: [1])], { v in
                let (a, b) = (v[0], v[1])
                let mask = (a .> b).logicalAnd(a .!= b).logicalOr(a .<= 0.7).logicalXor(a .>= 1.5)
                return [a + b - a * b / (b + 1), pow(a, b), maximum(a, b) - minimum(a, b), Tensor.where(mask.logicalNot(), a, b),
                        (a .== b).cast(to: .float32) + (a .< b).cast(to: .float32)]
            }),
            ("integer_floor_division", [ints, divisors], { v in [v[0] / v[1], (v[0] * 2 - 1).cast(to: .float32)] }),
            ("reductions", [x], { v in
                let a = v[0]
                return [a.sum(axes: [1, 3]), a.prod(axis: 2, keepDims: true), a.max(axes: [0]), a.min(axis: 3), a.argmax(axis: 2),
                        a.argmax(axis: 1, keepDims: true).cast(to: .int32), a.cumsum(axis: 3), a.argsort(axis: 3, descending: true)]
            }),
            ("movement", [x], { v in
                let a = v[0]
                let cropped = a.padded([Padding(0, 0), Padding(1, -1), Padding(2, 0), Padding(0, 1)], value: 0.5)
                return [a.permuted(0, 2, 3, 1).reshaped(to: [2, -1]), a.narrow(axis: 2, start: 1, count: 4)[TensorIndex.all, 1..., TensorIndex.all, 0..<5],
                        cropped, Tensor.concatenate([a, a.flipped(axes: [1, 3])], axis: 1), a[0].expanded(to: [3, 3, 6, 5]).contiguous()]
            }),
            ("indexing", [positive, index], { v in
                let (a, i) = (v[0], v[1])
                let rows = Tensor([Int64(2), 0, 2])
                return [a[0..<2].gather(axis: 1, index: i[TensorIndex.all, 0..<3]), a.indexSelect(axis: 0, index: rows),
                        a.indexAdding(axis: 0, index: rows, source: a), a[0..<2].scatterAdding(axis: 1, index: i, source: a[0..<2, 0..<3])]
            }),
            ("convolution_pooling", [x, w, grouped], { v in
                let (a, weight, depthwise) = (v[0], v[1], v[2])
                let y = conv2d(a, weight: weight, bias: Tensor([Float(0.1), -0.2, 0.3, 0]), stride: 1, padding: 1)
                let z = conv2d(Tensor.concatenate([a, a], axis: 1), weight: depthwise, stride: 2, padding: 2, dilation: 2, groups: 6)
                return [y, z, maxPool2d(y, kernelSize: 3, stride: 2, padding: 1), avgPool2d(y, kernelSize: 2, countIncludePad: true),
                        avgPool2d(y, kernelSize: 3, stride: 1, padding: 1, countIncludePad: false)]
            }),
            ("normalization", [x], { v in
                let a = v[0]
                let norm = layerNorm(a, normalizedShape: [6, 5], weight: scale, bias: shift)
                let batch = batchNorm(a, runningMean: nil, runningVariance: nil, weight: Tensor.ones([3]), bias: Tensor.zeros([3]), training: true)
                return [norm, batch.output]
            }),
            // The fused attention primitive written out as MatMul, masked softmax, MatMul. The
            // second example's padding hides every key (zeros).
            ("attention", [Tensor.randomNormal([2, 2, 5, 4]), Tensor.randomNormal([2, 2, 7, 4]), Tensor.randomNormal([2, 2, 7, 3]),
                           Tensor([Float(1), 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], shape: [2, 1, 1, 7]), Tensor.randomNormal([5, 7])], { v in
                [scaledDotProductAttention(v[0], v[1], v[2], mask: v[3] .> 0.5),
                 scaledDotProductAttention(v[0], v[1], v[2], mask: v[4], isCausal: true, scale: 0.3)]
            }),
        ]
    }

    func testPrimitivesMatchOnnxruntimeAtEachOpset() throws {
        let check = try ONNXRuntimeCheck()
        for opset in [13, 17, 18, 20, 21] {
            for (name, arguments, function) in functions() {
                if opset < 16 && name == "indexing" { continue }
                let inputs = arguments.enumerated().map { ONNXInput("x\($0.offset)", $0.element.shape, $0.element.dtype) }
                let model = try ONNXExporter.export(inputs: inputs, outputs: (0..<function(arguments).count).map { "y\($0)" },
                                                    options: ONNXExportOptions(opset: opset)) { v in function(v) }
                XCTAssertEqual(model.opsetImport.first?.version, Int64(opset))
                try check.add("\(name)_opset\(opset)", model, atol: 1e-5, rtol: 1e-5)
                let results = noGrad { function(arguments) }
                try check.addCase("\(name)_opset\(opset)", inputs: Dictionary(uniqueKeysWithValues: zip(inputs.map(\.name), arguments)),
                                  expected: Dictionary(uniqueKeysWithValues: results.enumerated().map { ("y\($0.offset)", $0.element) }))
            }
        }
        try check.run()
    }

    func testNativeOperatorsFollowTheOpset() throws {
        let f: ([Tensor]) -> [Tensor] = { v in [layerNorm(v[0], normalizedShape: [4]).gelu()] }
        func operators(_ opset: Int) throws -> Set<String> {
            Set(try ONNXExporter.export(inputs: [ONNXInput("x", [2, 4])], outputs: ["y"], options: ONNXExportOptions(opset: opset)) { v in f(v) }
                .graph.node.map(\.opType))
        }
        XCTAssertFalse(try operators(13).contains("LayerNormalization"))
        XCTAssertTrue(try operators(17).contains("LayerNormalization"))
        XCTAssertFalse(try operators(17).contains("Gelu"))
        XCTAssertTrue(try operators(20).contains("Gelu"))
    }

    func testTrainingGraphsAndBadOptionsAreRefusedWithTheReason() {
        func message(_ opset: Int = 17, _ f: @escaping ([Tensor]) -> [Tensor]) -> String {
            do {
                _ = try ONNXExporter.export(inputs: [ONNXInput("x", [2, 3, 4, 4])], outputs: ["y"], options: ONNXExportOptions(opset: opset)) { v in f(v) }
                return "exported"
            } catch {
                return "\(error)"
            }
        }
        let w = Tensor.randomNormal([2, 3, 3, 3])
        let gradient = message { v in [grad { (x: Tensor) in conv2d(x, weight: w).sum() }(v[0])] }
        XCTAssertTrue(gradient.contains("conv2d_backward") && gradient.contains("training graph"), gradient)
        let dropout = message { v in [Dropout(probability: 0.5)(v[0])] }
        XCTAssertTrue(dropout.contains("draws random numbers"), dropout)
        XCTAssertTrue(message(12) { v in v }.contains("opset 12 is not supported: choose one of 13 to 21"))
        XCTAssertTrue(message(22) { v in v }.contains("opset 22 is not supported"))
    }

    func testInitializersAreNamedByStateDictKeysAndMetadataIsWritten() throws {
        let model = Sequential([Linear(4, 3), ReLU(), Linear(3, 2)])
        var options = ONNXExportOptions()
        options.docString = "a test"
        options.metadata = ["task": "classification"]
        let proto = try ONNXExporter.export(model, input: ONNXInput("input", [2, 4], dynamicAxes: [0: "batch"]), options: options)
        XCTAssertEqual(Set(proto.graph.initializer.map(\.name)).intersection(model.stateDict().keys), Set(model.stateDict().keys))
        XCTAssertEqual(proto.producerName, "ember")
        XCTAssertEqual(proto.irVersion, 8)
        XCTAssertEqual(proto.docString, "a test")
        XCTAssertEqual(proto.metadataProps.map(\.key), ["task"])
        XCTAssertEqual(proto.graph.input[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", ""])
        XCTAssertEqual(proto.graph.output[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", ""])
        XCTAssertEqual(proto.graph.output[0].type.tensorType.shape.dim[1].dimValue, 2)
    }

    /// External data, forced with a threshold of 1 byte: the weights go to model.onnx.data,
    /// which onnx.checker and onnxruntime read.
    func testExternalDataRunsInOnnxruntime() throws {
        let check = try ONNXRuntimeCheck()
        let model = Sequential([Linear(64, 32), ReLU(), Linear(32, 2)])
        let proto = try ONNXExporter.export(model, input: ONNXInput("input", [2, 64], dynamicAxes: [0: "batch"]))
        try check.add("external", proto, externalDataAbove: 1)
        let written = try ONNXModelFile.read(check.directory.appendingPathComponent("external.onnx"))
        XCTAssertTrue(written.graph.initializer.contains { $0.dataLocation == .external && $0.rawData.isEmpty })
        XCTAssertTrue(FileManager.default.fileExists(atPath: check.directory.appendingPathComponent("external.onnx.data").path))
        let x = Tensor.randomNormal([5, 64])
        try check.addCase("external", inputs: ["input": x], expected: ["output": noGrad { model(x) }])
        try check.run()
    }
}
