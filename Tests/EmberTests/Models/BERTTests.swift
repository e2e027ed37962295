import Foundation
import XCTest
import Ember
import EmberIO
import EmberModels
import EmberNN
import EmberOptim

/// Ember's BERT against Hugging Face transformers (Fixtures/generate_bert.py): a tiny random
/// BertForSequenceClassification (hidden 32, 2 layers, 4 heads, exact GELU) saved in float64,
/// run on padded ids with an attention mask and token types.
final class BERTTests: XCTestCase {
    private let tinyConfig = BERTConfig(vocabSize: 100, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4,
                                        intermediateSize: 64, maxPositionEmbeddings: 24, numLabels: 3)

    private func tinyClassifier(dtype: DType = .float64) throws -> BERTForSequenceClassification {
        try BERTForSequenceClassification(pretrained: BERTFixtures.folder("tiny_classifier"), dtype: dtype)
    }

    // MARK: Layout

    func testStateKeysAreHuggingFaces() throws {
        let checkpoint = try SafeTensors.header(contentsOf: BERTFixtures.folder("tiny_classifier").appendingPathComponent("model.safetensors"))
        let classifier = BERTForSequenceClassification(config: tinyConfig)
        XCTAssertEqual(Set(classifier.stateKeys()), Set(checkpoint.keys))
        for (key, tensor) in classifier.stateDict() { XCTAssertEqual(tensor.shape, checkpoint[key]?.shape, key) }

        let encoder = BERTModel(config: tinyConfig)
        XCTAssertEqual(Set(encoder.stateKeys().map { "bert." + $0 }), Set(checkpoint.keys.filter { $0.hasPrefix("bert.") }))
        XCTAssertEqual(Array(encoder.stateKeys().prefix(5)), [
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
        ])
        XCTAssertTrue(encoder.stateKeys().contains("encoder.layer.1.attention.self.query.weight"))
        XCTAssertTrue(encoder.stateKeys().contains("encoder.layer.1.attention.output.LayerNorm.bias"))
        XCTAssertFalse(BERTModel(config: tinyConfig, addPoolingLayer: false).stateKeys().contains { $0.hasPrefix("pooler.") })
    }

    func testFreshWeightsAreInitializedAsHuggingFace() {
        manualSeed(0)
        let model = BERTModel(config: BERTConfig(vocabSize: 500, hiddenSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
                                                 intermediateSize: 128, initializerRange: 0.05))
        let query = model.encoder.layer[0].attention.selfAttention.query
        XCTAssertEqual(query.weight.standardDeviation().item(), 0.05, accuracy: 0.005)
        XCTAssertEqual(query.bias!.abs().max().item(), 0)
        let words = model.embeddings.wordEmbeddings.weight
        XCTAssertEqual(words.standardDeviation().item(), 0.05, accuracy: 0.002)
        XCTAssertEqual(words[0].abs().max().item(), 0, "the padding row starts at zero")
        XCTAssertEqual(model.embeddings.layerNorm.weight!.min().item(), 1)
    }

    // MARK: Against transformers

    /// float64 throughout: only rounding separates the two frameworks.
    func testForwardMatchesTransformers() throws {
        let reference = try BERTFixtures.reference()
        let model = try tinyClassifier()
        let ids = try reference.fixture("input_ids"), mask = try reference.fixture("attention_mask")
        let types = try reference.fixture("token_type_ids")
        let (hidden, pooled) = model.bert(inputIDs: ids, attentionMask: mask, tokenTypeIDs: types)
        assertClose(hidden, try reference.fixture("classifier.last_hidden_state"), atol: 1e-10, rtol: 1e-10, "last hidden state")
        assertClose(try XCTUnwrap(pooled), try reference.fixture("classifier.pooler_output"), atol: 1e-10, rtol: 1e-10, "pooled")
        assertClose(model(inputIDs: ids, attentionMask: mask, tokenTypeIDs: types), try reference.fixture("classifier.logits"),
                    atol: 1e-10, rtol: 1e-10, "logits")
        // No mask: every position attends to every other; no token types: all type 0.
        assertClose(model.bert(inputIDs: ids).lastHiddenState, try reference.fixture("classifier.unmasked_last_hidden_state"),
                    atol: 1e-10, rtol: 1e-10, "without mask and token types")
    }

    /// Padding-free encoding (packed real tokens, attention within each sentence) gives the
    /// padded forward's hidden states on the real tokens, float64 to rounding, for the
    /// fixture's right-padded mask and for one with left padding and a hole, in eager and
    /// compiled calls.
    func testPaddingFreeForwardMatchesPadded() throws {
        let reference = try BERTFixtures.reference()
        let bert = try tinyClassifier().bert
        let ids = try reference.fixture("input_ids"), types = try reference.fixture("token_type_ids")
        let length = ids.shape[1]
        let shifted = Tensor((0..<ids.shape[0] * length).map { $0 % length == 0 || $0 % length == 2 ? Int64(0) : 1 },
                             shape: ids.shape)
        for (name, mask) in [("right padding", try reference.fixture("attention_mask").cast(to: .int64)), ("left padding and a hole", shifted)] {
            let expected = bert(inputIDs: ids, attentionMask: mask, tokenTypeIDs: types).lastHiddenState
                * mask.cast(to: .float64).unsqueezed(axis: -1)
            let packing = PackedSequences(attentionMask: mask)
            assertClose(packing.unpack(bert(inputIDs: ids, packing: packing, tokenTypeIDs: types)), expected,
                        atol: 1e-12, rtol: 1e-12, name)
            let compiled = compile { inputs in
                [PackedSequences(tensors: Array(inputs.dropFirst(2))).unpack(
                    bert(inputIDs: inputs[0], packing: PackedSequences(tensors: Array(inputs.dropFirst(2))), tokenTypeIDs: inputs[1]))]
            }
            assertClose(compiled([ids, types] + packing.tensors)[0], expected, atol: 1e-12, rtol: 1e-12, name + ", compiled")
        }
    }

    /// float32 (oneDNN) against the float64 reference: rounding of sums of 32-64 terms through
    /// two layers, each ending in a layer norm.
    func testFloat32ForwardMatchesTransformers() throws {
        let reference = try BERTFixtures.reference()
        let model = try tinyClassifier(dtype: .float32)
        let (hidden, pooled) = model.bert(inputIDs: try reference.fixture("input_ids"), attentionMask: try reference.fixture("attention_mask"),
                                          tokenTypeIDs: try reference.fixture("token_type_ids"))
        XCTAssertEqual(hidden.dtype, .float32)
        assertClose(hidden, try reference.fixture("classifier.last_hidden_state"), atol: 2e-5, rtol: 2e-5, "last hidden state")
        assertClose(try XCTUnwrap(pooled), try reference.fixture("classifier.pooler_output"), atol: 2e-5, rtol: 2e-5, "pooled")
    }

    /// The gradient of cross-entropy(logits) + 0.1 Σ hidden·W with respect to every parameter,
    /// the padding row of the word embeddings (zero in both) included.
    func testGradientsMatchTransformers() throws {
        let reference = try BERTFixtures.reference()
        let model = try tinyClassifier()
        let (hidden, pooled) = model.bert(inputIDs: try reference.fixture("input_ids"), attentionMask: try reference.fixture("attention_mask"),
                                          tokenTypeIDs: try reference.fixture("token_type_ids"))
        let logits = model.classifier(model.dropout(try XCTUnwrap(pooled)))
        let loss = crossEntropy(logits: logits, labels: try reference.fixture("classifier.labels"))
            + (hidden * (try reference.fixture("classifier.loss_weights"))).sum() * 0.1
        assertClose(loss, try reference.fixture("classifier.loss"), atol: 1e-10, rtol: 1e-10, "loss")
        loss.backward()
        let parameters = model.namedParameters()
        XCTAssertEqual(parameters.count, reference.keys.filter { $0.hasPrefix("grad.") }.count, "one reference gradient per parameter")
        for (key, parameter) in parameters {
            let gradient = try XCTUnwrap(parameter.grad, "\(key) has no gradient")
            assertClose(gradient, try reference.fixture("grad." + key), atol: 1e-9, rtol: 1e-9, "gradient of \(key)")
        }
    }

    /// As a `Layer`, the classifier masks the padding token itself: the fixture pads with id 0
    /// exactly where its attention mask is 0.
    func testLayerForwardMasksPaddingTokens() throws {
        let reference = try BERTFixtures.reference()
        let model = try tinyClassifier()
        assertClose(model(try reference.fixture("input_ids")), model(inputIDs: try reference.fixture("input_ids"),
                                                                      attentionMask: try reference.fixture("attention_mask")),
                    atol: 1e-12, rtol: 1e-12)
    }

    /// Dropout is active in training mode only, and the tiny classifier learns to tell apart
    /// sequences by their first real token in a few Adam steps.
    func testSequenceClassifierTrains() {
        manualSeed(1)
        let model = BERTForSequenceClassification(config: tinyConfig)
        let ids = Tensor([1, 5, 6, 7, 0, 0, 2, 5, 6, 0, 0, 0, 3, 7, 7, 7, 7, 7, 1, 6, 0, 0, 0, 0] as [Int64], shape: [4, 6])
        let labels = Tensor([0, 1, 2, 0] as [Int64], shape: [4])
        model.eval()
        XCTAssertEqual(model(ids).doubles, model(ids).doubles, "evaluation is deterministic")
        model.train()
        XCTAssertNotEqual(model(ids).doubles, model(ids).doubles, "dropout draws new masks in training")

        let optimizer = Adam(model.parameters(), lr: 1e-2)
        var losses = [Double]()
        for _ in 0..<10 {
            let loss = crossEntropy(logits: model(ids), labels: labels)
            losses.append(loss.item())
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        XCTAssertLessThan(losses.last!, 0.2 * losses.first!, "losses \(losses)")
        XCTAssertEqual(model.eval()(ids).argmax(axis: 1).doubles, labels.doubles)
    }

    /// savePretrained writes a folder that loads back unchanged (and in transformers: with
    /// EMBER_BERT_SAVE_DIR set the folder is also written there for generate_bert.py --check-ember).
    func testSavePretrainedRoundTrips() throws {
        let reference = try BERTFixtures.reference()
        let model = try tinyClassifier()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-bert-saved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try model.savePretrained(to: folder)
        if let path = ProcessInfo.processInfo.environment["EMBER_BERT_SAVE_DIR"] {
            try model.savePretrained(to: URL(fileURLWithPath: path))
        }
        let loaded = try BERTForSequenceClassification(pretrained: folder, dtype: .float64)
        XCTAssertEqual(loaded.config, model.config)
        let ids = try reference.fixture("input_ids"), mask = try reference.fixture("attention_mask")
        XCTAssertEqual(loaded(inputIDs: ids, attentionMask: mask).doubles, model(inputIDs: ids, attentionMask: mask).doubles)
        XCTAssertEqual(Set(try SafeTensors.header(contentsOf: folder.appendingPathComponent("model.safetensors")).keys),
                       Set(model.stateKeys()))
    }

    // MARK: config.json

    func testConfigReadsHuggingFacesKeys() throws {
        let config = try PretrainedFolder(BERTFixtures.folder("tiny_classifier")).config(BERTConfig.self)
        XCTAssertEqual(config, BERTConfig(vocabSize: 100, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4,
                                          intermediateSize: 64, maxPositionEmbeddings: 24, numLabels: 3),
                       "num_labels comes from id2label; classifier_dropout null is none")
        XCTAssertEqual(try PretrainedFolder(BERTFixtures.folder("tiny_masked_lm_f16")).config(BERTConfig.self).activation, .geluTanh)
        XCTAssertEqual(try PretrainedFolder(BERTFixtures.folder("tiny_sharded_bf16")).config(BERTConfig.self).activation, .relu)
        // Defaults are BertConfig's.
        XCTAssertEqual(try JSONDecoder().decode(BERTConfig.self, from: Data("{}".utf8)), BERTConfig())
        let written = try JSONEncoder().encode(config)
        XCTAssertEqual(try JSONDecoder().decode(BERTConfig.self, from: written), config)
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: written) as? [String: Any])
        XCTAssertEqual(keys["model_type"] as? String, "bert")
        XCTAssertEqual(keys["num_hidden_layers"] as? Int, 2)
    }

    func testUnsupportedConfigsAreRefusedByKey() throws {
        let cases: [(String, [String])] = [
            (#"{"position_embedding_type": "relative_key"}"#, ["position_embedding_type", "relative_key", "absolute"]),
            (#"{"hidden_act": "mish"}"#, ["hidden_act", "mish", "gelu_new"]),
            (#"{"model_type": "roberta"}"#, ["model_type", "roberta"]),
            (#"{"is_decoder": true}"#, ["is_decoder"]),
            (#"{"add_cross_attention": true}"#, ["add_cross_attention"]),
            (#"{"hidden_size": 30, "num_attention_heads": 4}"#, ["hidden_size", "30", "num_attention_heads"]),
            (#"{"num_hidden_layers": 0}"#, ["num_hidden_layers", "positive"]),
            (#"{"hidden_dropout_prob": 1.5}"#, ["hidden_dropout_prob", "1.5"]),
            (#"{"vocab_size": 10, "pad_token_id": 10}"#, ["pad_token_id", "10"]),
            (#"{"hidden_size": "big"}"#, ["hidden_size", "whole number"]),
            // Sizes whose weights no machine holds are refused before any is allocated.
            (#"{"vocab_size": 1000000000000000}"#, ["vocab_size: 1000000000000000 is too large: its weights need 3.1 EB", "of memory"]),
            (#"{"max_position_embeddings": 1000000000000}"#, ["max_position_embeddings: 1000000000000 is too large: its weights need 3.1 PB"]),
        ]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-bert-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (json, fragments) in cases {
            try Data(json.utf8).write(to: directory.appendingPathComponent("config.json"))
            XCTAssertThrowsError(try PretrainedFolder(directory).config(BERTConfig.self), json) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("config.json"), message)
                for fragment in fragments { XCTAssertTrue(message.contains(fragment), "\(message) does not mention \(fragment)") }
            }
        }
        // A null padding token means none.
        try Data(#"{"pad_token_id": null}"#.utf8).write(to: directory.appendingPathComponent("config.json"))
        XCTAssertNil(try PretrainedFolder(directory).config(BERTConfig.self).padTokenID)
    }
}
