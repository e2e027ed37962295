import Ember
import EmberModels
import EmberNN
@testable import EmberONNX
import XCTest

/// Every zoo model exports with dynamic axes and runs in onnxruntime as in Ember, at several
/// batch sizes and lengths. Tolerances: float32 outputs differ from onnxruntime's by the
/// rounding of sums taken in another order (oneDNN's and MLAS's kernels); measured at most
/// 4.8e-7 (BERT's hidden states), so atol 1e-5 with rtol 1e-4 leaves a margin of 20, while a
/// wrong mapping is off by 1e-2 or more (a mask or a position off by one).
final class ExportZooTests: XCTestCase {
    private func outputs(_ model: Module, _ forward: () -> [String: Tensor]) -> [String: Tensor] {
        ONNXExporter.exportInEvaluationMode(model) { noGrad(forward) }
    }

    func testImageModelsMatchOnnxruntimeAtSeveralBatchSizes() throws {
        let check = try ONNXRuntimeCheck()
        let models: [(String, Module & Layer, [Int])] = [
            ("mlp", MLP(inputFeatures: 12, hiddenSizes: [16, 8], outputFeatures: 3, activation: .gelu), [12]),
            ("lenet5", LeNet5(), [1, 32, 32]),
            ("resnet_cifar_stem", ResNet(block: .basic, layers: [1, 1, 1, 1], classes: 10, cifarStem: true, baseWidth: 8), [3, 32, 32]),
            ("resnet_bottleneck", ResNet(block: .bottleneck, layers: [1, 1, 1, 1], classes: 5, baseWidth: 8), [3, 224, 224]),
            ("cifar_resnet8", CIFARResNet(depth: 8), [3, 32, 32]),
        ]
        for (name, model, shape) in models {
            try check.add(name, ZooExport(batch: 2, dynamicAxes: ["batch"]).export(model))
            for batch in [1, 3] {
                let x = Tensor.randomNormal([batch] + shape)
                try check.addCase(name, inputs: ["input": x], expected: outputs(model) { ["output": model(x)] })
            }
        }
        try check.run()
    }

    func testTextClassifiersMatchOnnxruntime() throws {
        let check = try ONNXRuntimeCheck()
        let transformer = TransformerClassifier(vocabularySize: 40, classes: 3, dModel: 16, numHeads: 2, numLayers: 2, maxLength: 32)
        try check.add("transformer", ZooExport(batch: 2, length: 6, dynamicAxes: ["batch", "sequence"]).export(transformer), atol: 1e-5)
        // The LSTM's recurrence is unrolled over time in ONNX, so its length is fixed.
        let lstm = LSTMClassifier(vocabularySize: 40, classes: 3, embeddingSize: 8, hiddenSize: 12, numLayers: 2, bidirectional: true)
        try check.add("lstm", ZooExport(batch: 2, length: 7, dynamicAxes: ["batch"]).export(lstm), atol: 1e-5)
        for (batch, length) in [(1, 6), (3, 11), (2, 1)] {
            // Padding (token 0) at the end of the first sequence.
            let tokens = Tensor.randomIntegers([batch, length], low: 1, high: 40)
            let padded = length > 2 ? Tensor.concatenate([tokens.narrow(axis: 1, start: 0, count: length - 2), Tensor.zeros([batch, 2], dtype: .int64)], axis: 1) : tokens
            try check.addCase("transformer", inputs: ["input_ids": padded], expected: outputs(transformer) { ["logits": transformer(padded)] })
        }
        for batch in [1, 4] {
            let tokens = Tensor.randomIntegers([batch, 7], low: 1, high: 40)
            try check.addCase("lstm", inputs: ["input_ids": tokens], expected: outputs(lstm) { ["logits": lstm(tokens)] })
        }
        try check.run()
    }

    func testLSTMCannotHaveADynamicLength() {
        let lstm = LSTMClassifier(vocabularySize: 10, classes: 2, embeddingSize: 4, hiddenSize: 4)
        XCTAssertThrowsError(try ZooExport(length: 4, dynamicAxes: ["batch", "sequence"]).export(lstm)) { error in
            // The recurrence is unrolled over the steps.
            XCTAssertTrue("\(error)".contains("the number of steps changes with the size of dynamic axis sequence"), "\(error)")
        }
    }

    /// A dynamic length is traced at two more tokens too, which must fit the context.
    func testATracedLengthLeavesRoomForTwoMoreTokens() {
        let gpt = GPT(GPTConfig(vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 4))
        for export in [{ try ZooExport(length: 7, dynamicAxes: ["sequence"]).export(gpt) },
                       { try ZooExport(length: 7, dynamicAxes: ["sequence"]).exportWithCache(gpt) }] {
            XCTAssertThrowsError(try export()) { error in
                XCTAssertEqual("\(error)", "a dynamic sequence is traced at 7, 8 and 9 tokens, more than the model's 8: trace at 6 or fewer")
            }
        }
    }

    private func mask(_ batch: Int, _ length: Int) -> Tensor {
        // Row b keeps its first length - b tokens (at least one): padding of several lengths.
        let values = (0..<batch).flatMap { b in (0..<length).map { Int64($0 < max(1, length - b) ? 1 : 0) } }
        return Tensor(values, shape: [batch, length])
    }

    func testBERTAndSentenceEmbedderMatchOnnxruntime() throws {
        let check = try ONNXRuntimeCheck()
        let config = BERTConfig(vocabSize: 60, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 48,
                                maxPositionEmbeddings: 40)
        let bert = BERTModel(config: config)
        let embedder = SentenceEmbeddingModel(transformer: BERTModel(config: config, addPoolingLayer: false), normalizes: true)
        let classifier = BERTForSequenceClassification(config: config)
        let export = ZooExport(batch: 2, length: 5, dynamicAxes: ["batch", "sequence"])
        try check.add("bert", export.export(bert), atol: 1e-5)
        try check.add("bert_classifier", export.export(classifier), atol: 1e-5)
        try check.add("minilm_like", export.export(embedder), atol: 1e-5)
        for (batch, length) in [(1, 3), (3, 9), (2, 40)] {
            let ids = Tensor.randomIntegers([batch, length], low: 0, high: 60)
            let types = Tensor.randomIntegers([batch, length], low: 0, high: 2)
            let attention = mask(batch, length)
            try check.addCase("bert", inputs: ["input_ids": ids, "attention_mask": attention, "token_type_ids": types], expected: outputs(bert) {
                let (last, pooled) = bert(inputIDs: ids, attentionMask: attention, tokenTypeIDs: types)
                return ["last_hidden_state": last, "pooler_output": pooled!]
            })
            try check.addCase("bert_classifier", inputs: ["input_ids": ids, "attention_mask": attention, "token_type_ids": types],
                              expected: outputs(classifier) { ["logits": classifier(inputIDs: ids, attentionMask: attention, tokenTypeIDs: types)] })
            try check.addCase("minilm_like", inputs: ["input_ids": ids, "attention_mask": attention], expected: outputs(embedder) {
                ["sentence_embedding": embedder(inputIDs: ids, attentionMask: attention)]
            })
        }
        try check.run()
    }

    /// Every pooling mode, the ones that pick a token by position (CLS, last token) and weight
    /// by position included, with the batch and the length dynamic, and with the batch alone:
    /// the row strides and positions come from the run's sizes. Left padding in one row moves
    /// its first token.
    func testSentencePoolingModesMatchOnnxruntimeAtDynamicSizes() throws {
        let check = try ONNXRuntimeCheck()
        let config = BERTConfig(vocabSize: 60, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 24,
                                maxPositionEmbeddings: 40)
        let embedder = SentenceEmbeddingModel(transformer: BERTModel(config: config, addPoolingLayer: false),
                                              pooling: SentencePooling(SentencePooling.Mode.allCases), normalizes: true)
        let exports = ["pooling": try ZooExport(batch: 2, length: 5, dynamicAxes: ["batch", "sequence"]).export(embedder),
                       "pooling_batch": try ZooExport(batch: 2, length: 6, dynamicAxes: ["batch"]).export(embedder)]
        var imported = [String: ONNXModel]()
        for (name, model) in exports {
            try check.add(name, model, atol: 1e-5)
            imported[name] = try ONNXModel(model, path: "\(name).onnx")
        }
        func leftPadded(_ mask: Tensor) -> Tensor {
            // The last row's padding moved to its start.
            let rows = mask.shape[0]
            return Tensor.concatenate([mask.narrow(axis: 0, start: 0, count: rows - 1), mask.narrow(axis: 0, start: rows - 1, count: 1).flipped(axes: [1])], axis: 0)
        }
        for (name, sizes) in [("pooling", [(1, 3), (3, 9), (4, 40)]), ("pooling_batch", [(1, 6), (3, 6)])] {
            for (batch, length) in sizes {
                let ids = Tensor.randomIntegers([batch, length], low: 0, high: 60)
                let attention = leftPadded(mask(batch, length))
                let expected = outputs(embedder) { ["sentence_embedding": embedder(inputIDs: ids, attentionMask: attention)] }
                let got = try imported[name]!(["input_ids": ids, "attention_mask": attention])["sentence_embedding"]!
                XCTAssertLessThan((got - expected["sentence_embedding"]!).abs().max().item(), 1e-5, "importer: \(name) at \(batch)x\(length)")
                try check.addCase(name, inputs: ["input_ids": ids, "attention_mask": attention], expected: expected)
            }
        }
        try check.run()
    }

    func testGPTMatchesOnnxruntimeAtDynamicLengths() throws {
        let check = try ONNXRuntimeCheck()
        let gpt = GPT(GPTConfig(vocabSize: 50, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16))
        try check.add("gpt", ZooExport(batch: 2, length: 5, dynamicAxes: ["batch", "sequence"]).export(gpt), atol: 1e-5)
        for (batch, length) in [(1, 1), (3, 7), (2, 24)] {
            let tokens = Tensor.randomIntegers([batch, length], low: 0, high: 50)
            try check.addCase("gpt", inputs: ["input_ids": tokens], expected: outputs(gpt) { ["logits": gpt(tokens)] })
        }
        try check.run()
    }

    /// One export with the cache whose step length is dynamic serves a prompt and the steps
    /// after it, of any lengths: the cache's merge and the positions come from the run's
    /// length. Prompts of 4 and 2 tokens, then steps of 3, 1 and 2 tokens, at batches 1 and 3.
    func testGPTWithItsCacheTakesStepsOfAnyLength() throws {
        let check = try ONNXRuntimeCheck()
        let gpt = GPT(GPTConfig(vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16))
        _ = gpt.eval()
        let model = try ZooExport(batch: 2, length: 3, dynamicAxes: ["batch", "sequence"]).exportWithCache(gpt)
        XCTAssertEqual(model.graph.input[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", "sequence"])
        let imported = try ONNXModel(model, path: "gpt_cache.onnx")
        try check.add("gpt_cache", model, atol: 1e-5)
        for (batch, steps) in [(1, [4, 3, 1, 2]), (3, [2, 1, 3])] {
            let cache = gpt.makeCache(batchSize: batch)
            for length in steps {
                var inputs = ["input_ids": Tensor.randomIntegers([batch, length], low: 0, high: 50)]
                for (name, tensor) in cache.namedTensors(batch: batch) { inputs[name] = noGrad { tensor.cloned() } }
                var expected = ["logits": try noGrad { try gpt.logits(inputs["input_ids"]!, cache: cache) }]
                for (name, tensor) in cache.namedTensors(batch: batch) {
                    expected[name.replacingOccurrences(of: "past_key_values", with: "present").replacingOccurrences(of: "past_length", with: "present_length")] = noGrad { tensor.cloned() }
                }
                let got = try imported(inputs)
                for (name, want) in expected {
                    XCTAssertEqual(got[name]?.shape, want.shape, "\(name), batch \(batch), step of \(length)")
                    guard let value = got[name], value.shape == want.shape else { continue }
                    XCTAssertLessThan((value.cast(to: .float64) - want.cast(to: .float64)).abs().max().item(), 1e-5,
                                      "importer: \(name), batch \(batch), step of \(length)")
                }
                try check.addCase("gpt_cache", inputs: inputs, expected: expected)
            }
        }
        try check.run()
    }

    /// Decoding with the cache as inputs and outputs: a prompt of 4 tokens, then single tokens,
    /// each step fed the previous step's cache, against Ember's eager calls with a KVCache.
    func testGPTWithItsCacheDecodesAsEmber() throws {
        let check = try ONNXRuntimeCheck()
        let gpt = GPT(GPTConfig(vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16))
        _ = gpt.eval()
        let prompt = try ZooExport(batch: 2, length: 4, dynamicAxes: ["batch"]).exportWithCache(gpt)
        let step = try ZooExport(batch: 2, length: 1, dynamicAxes: ["batch"]).exportWithCache(gpt)
        XCTAssertEqual(step.graph.input.map(\.name), ["input_ids", "past_key_values.0.key", "past_key_values.0.value",
                                                      "past_key_values.1.key", "past_key_values.1.value", "past_length"])
        XCTAssertEqual(step.graph.output.map(\.name), ["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value",
                                                       "present_length"])
        try check.add("gpt_prompt", prompt, atol: 1e-5)
        try check.add("gpt_step", step, atol: 1e-5)
        for batch in [1, 3] {
            let cache = gpt.makeCache(batchSize: batch)
            var past = [String: Tensor]()
            for (name, tensor) in cache.namedTensors(batch: batch) { past[name] = noGrad { tensor.cloned() } }
            let tokens = Tensor.randomIntegers([batch, 4], low: 0, high: 50)
            let logits = try noGrad { try gpt.logits(tokens, cache: cache) }
            try check.addCase("gpt_prompt", inputs: past.merging(["input_ids": tokens]) { a, _ in a }, expected: ["logits": logits])
            for _ in 0..<3 {
                var state = [String: Tensor]()
                for (name, tensor) in cache.namedTensors(batch: batch) { state[name] = noGrad { tensor.cloned() } }
                let next = Tensor.randomIntegers([batch, 1], low: 0, high: 50)
                let stepLogits = try noGrad { try gpt.logits(next, cache: cache) }
                var expected = ["logits": stepLogits]
                for (name, tensor) in cache.namedTensors(batch: batch) {
                    expected[name.replacingOccurrences(of: "past_key_values", with: "present").replacingOccurrences(of: "past_length", with: "present_length")] = noGrad { tensor.cloned() }
                }
                try check.addCase("gpt_step", inputs: state.merging(["input_ids": next]) { a, _ in a }, expected: expected)
            }
        }
        try check.run()
    }
}
