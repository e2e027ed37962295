import Ember
import EmberIO
import EmberNN
@testable import EmberONNX
import Foundation
import XCTest

/// torch.onnx.export's models (Fixtures/generate_import_fixtures.py: a torchvision-layout
/// ResNet, Hugging Face BERT and GPT-2, random weights) run in Ember as onnxruntime runs
/// them, at several batch sizes and lengths, eagerly, compiled and under vmap; gradients
/// through the import equal PyTorch's, and the imported model fine-tunes.
final class ImportModelTests: XCTestCase {
    /// float32 through a few layers: onnxruntime and Ember sum in different orders.
    let tolerance = 1e-4

    func checkAgainstOnnxruntime(_ name: String) throws -> ONNXModel {
        let model = try ImportFixtures.model(name)
        let cases = try ImportFixtures.cases(name)
        XCTAssertFalse(cases.isEmpty)
        for (key, item) in cases.sorted(by: { $0.key < $1.key }) {
            let outputs = try model(item.inputs)
            XCTAssertEqual(Set(outputs.keys), Set(item.outputs.keys), "\(name) \(key)")
            for (output, expected) in item.outputs {
                let difference = maxDifference(outputs[output]!, expected)
                XCTAssertLessThan(difference, tolerance, "\(name) \(key) \(output)")
            }
        }
        return model
    }

    func testResNetMatchesOnnxruntime() throws {
        let model = try checkAgainstOnnxruntime("tiny_resnet")
        XCTAssertEqual(model.operatorCounts.map(\.op), ["Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm"])
        XCTAssertEqual(model.inputs.first?.shapeDescription, "[batch, 3, 32, 32]")
    }

    func testBERTMatchesOnnxruntime() throws { _ = try checkAgainstOnnxruntime("tiny_bert") }

    func testGPT2MatchesOnnxruntime() throws { _ = try checkAgainstOnnxruntime("tiny_gpt2") }

    func testCompiledAndVmappedRunsEqualEagerOnes() throws {
        for name in ["tiny_resnet", "tiny_bert", "tiny_gpt2"] {
            let model = try ImportFixtures.model(name)
            let (_, item) = try ImportFixtures.cases(name).max { $0.key < $1.key }!
            let inputs = model.inputs.map { item.inputs[$0.name]! }
            let eager = noGrad { model(inputs) }
            let function = compile({ model($0) })
            let compiled = noGrad { function(inputs) }
            for (a, b) in zip(eager, compiled) { XCTAssertLessThan(maxDifference(a, b), 1e-5, "\(name) compiled") }
            checkLinearFusion(model, function.graph(for: inputs), name)
            // vmap over a new leading axis of two copies equals the model on each.
            let stacked = inputs.map { Tensor.stack([$0, $0], axis: 0) }
            let mapped = noGrad { vmap({ model($0) })(stacked) }
            for (a, b) in zip(eager, mapped) {
                XCTAssertEqual(b.shape, [2] + a.shape, name)
                XCTAssertLessThan(maxDifference(Tensor.stack([a, a], axis: 0), b), 1e-5, "\(name) vmap")
            }
        }
    }

    func testGradientsThroughTheImportEqualPyTorchs() throws {
        let model = try ImportFixtures.model("tiny_resnet")
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        XCTAssertNotNil(parameters["fc.weight"])
        for (key, item) in try ImportFixtures.cases("tiny_resnet") {
            model.zeroGrad()
            let logits = try model(item.inputs)["logits"]!
            (logits * item.extra["cotangent"]!).sum().backward()
            for name in ["fc.weight", "fc.bias"] {
                let grad = try XCTUnwrap(parameters[name]?.grad, "\(key) \(name)")
                XCTAssertLessThan(maxDifference(grad, item.extra["grad.\(name)"]!), 1e-4, "\(key) \(name)")
            }
        }
        // Compiled, the gradient is the same.
        let item = try ImportFixtures.cases("tiny_resnet")["b3"]!
        let images = item.inputs["images"]!
        model.zeroGrad()
        (compile({ model($0) })([images])[0] * item.extra["cotangent"]!).sum().backward()
        XCTAssertLessThan(maxDifference(parameters["fc.weight"]!.grad!, item.extra["grad.fc.weight"]!), 1e-4)
    }

    func testFineTuningLowersTheLoss() throws {
        let model = try ImportFixtures.model("tiny_resnet")
        let images = Tensor.randomNormal([8, 3, 32, 32], key: Tensor.randomKey(1))
        let targets = Tensor.randomNormal([8, 10], key: Tensor.randomKey(2))
        func loss() throws -> Tensor {
            let difference = try model.run([images])[0] - targets
            return (difference * difference).mean()
        }
        let before = try noGrad { try loss() }.item()
        for _ in 0..<20 {
            model.zeroGrad()
            try loss().backward()
            noGrad {
                for parameter in model.trainableParameters() { parameter.update(.scaleAndAdd(scale: 1, alpha: -0.05), parameter.grad!) }
            }
        }
        let after = try noGrad { try loss() }.item()
        XCTAssertLessThan(after, before * 0.7, "loss \(before) -> \(after)")
        // The state dict holds the trained initializers by their ONNX names.
        XCTAssertTrue(model.stateKeys().contains("fc.weight"))
        XCTAssertEqual(model.stateDict()["fc.weight"]!.doubles, model.namedParameters().first { $0.0 == "fc.weight" }!.1.doubles)
    }

    /// Compiled, every exported linear layer (MatMul or Gemm with a weight matrix) is one fused
    /// matmul, and each erf GELU (Div, Erf, Add, Mul, Mul) its activation.
    func checkLinearFusion(_ model: ONNXModel, _ graph: Graph, _ name: String) {
        let counts = Dictionary(uniqueKeysWithValues: model.operatorCounts.map { ($0.op, $0.count) })
        let epilogues = graph.operations.compactMap { operation -> LinearEpilogue? in
            guard case .fused(let program) = operation.primitive, case .matmul(let epilogue) = program.head else { return nil }
            return epilogue
        }
        XCTAssertEqual(epilogues.filter { $0.activation == .gelu }.count, counts["Erf"] ?? 0, "\(name): \(epilogues)")
        XCTAssertGreaterThanOrEqual(epilogues.count, counts["Gemm"] ?? 0, "\(name): \(epilogues)")
        XCTAssertEqual(epilogues.count + graph.operations.filter { $0.primitive == .matmul }.count,
                       (counts["MatMul"] ?? 0) + (counts["Gemm"] ?? 0), "\(name): every product is fused or a plain matmul")
    }

    func testMiniLMExportMatchesOnnxruntimeWhenPresent() throws {
        // The real all-MiniLM-L6-v2 export, written by scripts/onnx-import-check.py (minilm) when the
        // model folder from scripts/fetch-minilm.sh is there.
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ember-onnx-minilm")
        let file = directory.appendingPathComponent("minilm.onnx")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw XCTSkip("run scripts/onnx-import-check.py EMBER minilm to export all-MiniLM-L6-v2 to \(file.path)")
        }
        let model = try ONNXModel(contentsOf: file)
        let arrays = try NumPy.loadArchive(contentsOf: directory.appendingPathComponent("minilm.npz"))
        let outputs = try model(Dictionary(uniqueKeysWithValues: model.inputs.map { ($0.name, arrays["input.\($0.name)"]!) }))
        for (name, value) in outputs {
            XCTAssertLessThan(maxDifference(value, arrays["output.\(name)"]!), 1e-4, name)
        }
        // Compiled for inference: the 36 linear layers are fused matmuls (6 with GELU), same values.
        let inputs = model.inputs.map { arrays["input.\($0.name)"]! }
        let function = compile({ model($0) }, options: .inference)
        let compiled = noGrad { function(inputs) }
        for (value, output) in zip(compiled, model.outputs) {
            XCTAssertLessThan(maxDifference(value, arrays["output.\(output.name)"]!), 1e-4, output.name)
        }
        let graph = function.graph(for: inputs)
        checkLinearFusion(model, graph, "minilm")
        let linear = graph.operations.filter { if case .fused(let p) = $0.primitive, case .matmul = p.head { true } else { false } }
        XCTAssertEqual(linear.count, 36)
    }
}
