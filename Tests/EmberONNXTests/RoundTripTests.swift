import Ember
import EmberModels
import EmberNN
@testable import EmberONNX
import XCTest

/// Ember's own exports imported back into Ember give Ember's outputs, at sizes other than the
/// traced ones (the dynamic axes), and the parameters come back under their state-dict names.
/// Tolerance: the exported graph computes the same float32 operations, reassociated only
/// where a fused or decomposed operator differs (LayerNormalization, GELU), so 2e-5.
final class RoundTripTests: XCTestCase {
    private func roundTrip(_ model: Module, _ export: ZooExport) throws -> ONNXModel {
        let proto = try export.export(model)
        // Through the bytes, as a file would carry it.
        return try ONNXModel(ONNXModelFile.decode(try proto.serializedData(), path: "roundtrip.onnx"), path: "roundtrip.onnx")
    }

    private func assertClose(_ a: Tensor?, _ b: Tensor, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a else { return XCTFail("\(name): missing", file: file, line: line) }
        XCTAssertEqual(a.shape, b.shape, name, file: file, line: line)
        let difference = (a.cast(to: .float64) - b.cast(to: .float64)).abs().max().item()
        XCTAssertLessThan(difference, 2e-5, name, file: file, line: line)
    }

    func testImageModelsComeBackTheSame() throws {
        let models: [(String, Module & Layer, [Int])] = [
            ("mlp", MLP(inputFeatures: 12, hiddenSizes: [16, 8], outputFeatures: 3, activation: .gelu), [12]),
            ("lenet5", LeNet5(), [1, 32, 32]),
            ("resnet", ResNet(block: .basic, layers: [1, 1, 1, 1], classes: 10, cifarStem: true, baseWidth: 8), [3, 32, 32]),
        ]
        for (name, model, shape) in models {
            let imported = try roundTrip(model, ZooExport(batch: 2, dynamicAxes: ["batch"]))
            // Every parameter comes back under its state-dict key with its values.
            let importedParameters = Dictionary(uniqueKeysWithValues: imported.namedParameters())
            for (key, parameter) in model.namedParameters() {
                guard let back = importedParameters[key] else { XCTFail("\(name): \(key) did not come back"); continue }
                XCTAssertEqual(back.scalars(as: Float.self), parameter.scalars(as: Float.self), "\(name): \(key)")
            }
            // Batch norm's running statistics come back as buffers, saved but not trained.
            let importedBuffers = Set(imported.namedBuffers().map(\.0))
            for (key, _) in model.namedBuffers() where key.hasSuffix("running_mean") || key.hasSuffix("running_var") {
                XCTAssertTrue(importedBuffers.contains(key), "\(name): \(key) is not a buffer")
                XCTAssertNil(importedParameters[key], "\(name): \(key) is trainable")
            }
            for batch in [1, 3] {
                let x = Tensor.randomNormal([batch] + shape)
                let expected = ONNXExporter.exportInEvaluationMode(model) { noGrad { model(x) } }
                assertClose(try imported(["input": x])["output"], expected, "\(name), batch \(batch)")
            }
        }
    }

    func testTextModelsComeBackTheSame() throws {
        let config = BERTConfig(vocabSize: 60, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 48,
                                maxPositionEmbeddings: 40)
        let embedder = SentenceEmbeddingModel(transformer: BERTModel(config: config, addPoolingLayer: false), normalizes: true)
        let importedEmbedder = try roundTrip(embedder, ZooExport(batch: 2, length: 5, dynamicAxes: ["batch", "sequence"]))
        let gpt = GPT(GPTConfig(vocabSize: 50, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16))
        let importedGPT = try roundTrip(gpt, ZooExport(batch: 2, length: 5, dynamicAxes: ["batch", "sequence"]))
        for (batch, length) in [(1, 3), (3, 9)] {
            let ids = Tensor.randomIntegers([batch, length], low: 1, high: 50)
            // Row b keeps its first length - b tokens: padding of several lengths.
            let attention = Tensor((0..<batch).flatMap { b in (0..<length).map { Int64($0 < length - b ? 1 : 0) } }, shape: [batch, length])
            let embeddings = ONNXExporter.exportInEvaluationMode(embedder) { noGrad { embedder(inputIDs: ids, attentionMask: attention) } }
            assertClose(try importedEmbedder(["input_ids": ids, "attention_mask": attention])["sentence_embedding"], embeddings,
                        "embedder \(batch)x\(length)")
            let logits = ONNXExporter.exportInEvaluationMode(gpt) { noGrad { gpt(ids) } }
            assertClose(try importedGPT(["input_ids": ids])["logits"], logits, "gpt \(batch)x\(length)")
        }
    }
}
