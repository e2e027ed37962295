import Foundation
import XCTest
import Ember
import EmberIO
import EmberModels
import EmberNN

/// Hugging Face model folders: checkpoints written by transformers' save_pretrained
/// (Fixtures/generate_bert.py) in float16, bfloat16 and shards, with and without the `bert.`
/// prefix, and every way a folder can be wrong, each with an error that names the problem.
final class PretrainedFolderTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-pretrained-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private func hiddenState(_ model: BERTModel, _ reference: [String: Tensor]) throws -> Tensor {
        model(inputIDs: try reference.fixture("input_ids"), attentionMask: try reference.fixture("attention_mask"),
              tokenTypeIDs: try reference.fixture("token_type_ids")).lastHiddenState
    }

    // MARK: Checkpoints written by transformers

    /// Three shards of bfloat16 weights, a BertModel without prefix, ReLU: transformers ran the
    /// same rounded weights in float64, so only float64 rounding separates the results.
    func testShardedBFloat16Checkpoint() throws {
        let folder = BERTFixtures.folder("tiny_sharded_bf16")
        let weights = try PretrainedFolder(folder).weights()
        XCTAssertEqual(weights.files.map(\.lastPathComponent),
                       ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"])
        XCTAssertEqual(try weights.spec("encoder.layer.1.output.dense.weight"), TensorSpec([32, 64], .bfloat16))

        let model = try BERTModel(pretrained: folder, dtype: .float64)
        XCTAssertNotNil(model.pooler, "the checkpoint has a pooler")
        XCTAssertFalse(model.isTraining, "pretrained models start in evaluation mode")
        assertClose(try hiddenState(model, BERTFixtures.reference()), try BERTFixtures.reference().fixture("sharded.last_hidden_state"),
                    atol: 1e-10, rtol: 1e-10)
        // float32 by default: the bfloat16 values widen exactly.
        let narrow = try BERTModel(pretrained: folder)
        XCTAssertEqual(narrow.embeddings.wordEmbeddings.weight.dtype, .float32)
        XCTAssertEqual(narrow.embeddings.wordEmbeddings.weight.doubles, model.embeddings.wordEmbeddings.weight.doubles)
    }

    /// A BertForMaskedLM saved in float16: `bert.` is removed, the `cls.` head skipped, and the
    /// model has no pooler because the checkpoint has none.
    func testMaskedLMCheckpointLoadsIntoBERTModel() throws {
        let folder = BERTFixtures.folder("tiny_masked_lm_f16")
        let model = try BERTModel(pretrained: folder, dtype: .float64)
        XCTAssertNil(model.pooler)
        XCTAssertEqual(model.config.activation, .geluTanh)
        assertClose(try hiddenState(model, BERTFixtures.reference()), try BERTFixtures.reference().fixture("masked_lm.last_hidden_state"),
                    atol: 1e-10, rtol: 1e-10)

        let report = try BERTModel(config: model.config, addPoolingLayer: false)
            .loadPretrained(try PretrainedFolder(folder).weights(), rules: BERTModel.keyRules(addPoolingLayer: false))
        XCTAssertEqual(report.loaded.count, model.stateKeys().count)
        XCTAssertTrue(!report.ignored.isEmpty && report.ignored.allSatisfy { $0.hasPrefix("cls.") }, "\(report.ignored)")

        XCTAssertThrowsError(try BERTModel(pretrained: folder, addPoolingLayer: true)) { error in
            self.assertMentions(error, [folder.path, "missing from the checkpoint", "pooler.dense.weight", "pooler.dense.bias"])
        }
    }

    /// A fine-tuned classifier loads whole; an encoder's checkpoint gets a new head, and a
    /// classifier checkpoint's head is unexpected in a bare encoder unless ignored.
    func testPrefixesBetweenBaseModelsAndHeads() throws {
        let reference = try BERTFixtures.reference()
        let sharded = BERTFixtures.folder("tiny_sharded_bf16")
        let config = try PretrainedFolder(sharded).config(BERTConfig.self)
        let classifier = BERTForSequenceClassification(config: config)
        let report = try classifier.loadPretrained(try PretrainedFolder(sharded).weights(), rules: BERTForSequenceClassification.keyRules)
        XCTAssertEqual(report.newlyInitialized, ["classifier.weight", "classifier.bias"])
        XCTAssertTrue(report.loaded.allSatisfy { $0.hasPrefix("bert.") })
        let encoder = try BERTModel(pretrained: sharded)
        XCTAssertEqual(classifier.bert.encoder.layer[1].output.dense.weight.doubles, encoder.encoder.layer[1].output.dense.weight.doubles)

        let fineTuned = BERTFixtures.folder("tiny_classifier")
        XCTAssertThrowsError(try BERTModel(pretrained: fineTuned)) { error in
            self.assertMentions(error, ["unexpected tensors in the checkpoint", "classifier.bias", "classifier.weight"])
        }
        var rules = BERTModel.keyRules(addPoolingLayer: true)
        rules.ignored.append("classifier.")
        let bare = BERTModel(config: try PretrainedFolder(fineTuned).config(BERTConfig.self), dtype: .float64).eval()
        XCTAssertEqual(try bare.loadPretrained(try PretrainedFolder(fineTuned).weights(), rules: rules).ignored,
                       ["classifier.bias", "classifier.weight"])
        assertClose(try hiddenState(bare, reference), try reference.fixture("classifier.last_hidden_state"), atol: 1e-10, rtol: 1e-10)

        // A masked-LM checkpoint under a classification head: the pooler is new as well.
        let fromMaskedLM = try BERTForSequenceClassification(pretrained: BERTFixtures.folder("tiny_masked_lm_f16"), numLabels: 5)
        XCTAssertEqual(fromMaskedLM.classifier.weight.shape, [5, 32])
        XCTAssertEqual(try XCTUnwrap(fromMaskedLM.bert.pooler).dense.bias!.abs().max().item(), 0, "initialized as Hugging Face does")
    }

    // MARK: Folder errors

    private func assertMentions(_ error: Error, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(error is FileError, "\(type(of: error)): \(error)", file: file, line: line)
        let message = "\(error)"
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "\"\(message)\" does not mention \(fragment)", file: file, line: line)
        }
    }

    private func write(_ text: String, to name: String, in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    private let tinyConfigJSON = #"{"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 24}"#

    /// A folder holding tinyConfigJSON and `state` as model.safetensors.
    private func folder(_ name: String, state: [String: Tensor]) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try write(tinyConfigJSON, to: "config.json", in: url)
        try SafeTensors.write(state, to: url.appendingPathComponent("model.safetensors"))
        return url
    }

    /// The state of a fresh model of tinyConfigJSON.
    private func tinyState() throws -> [String: Tensor] {
        BERTModel(config: try JSONDecoder().decode(BERTConfig.self, from: Data(tinyConfigJSON.utf8))).stateDict()
    }

    func testMissingFoldersAndFilesAreNamed() throws {
        let absent = directory.appendingPathComponent("absent")
        XCTAssertThrowsError(try BERTModel(pretrained: absent)) { self.assertMentions($0, [absent.path, "no such folder", "config.json"]) }
        try write("{}", to: "file.json", in: directory)
        let file = directory.appendingPathComponent("file.json")
        XCTAssertThrowsError(try BERTModel(pretrained: file)) { self.assertMentions($0, [file.path, "not a model folder"]) }

        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try BERTModel(pretrained: empty)) { self.assertMentions($0, [empty.path, "config.json"]) }

        try write(tinyConfigJSON, to: "config.json", in: empty)
        XCTAssertThrowsError(try BERTModel(pretrained: empty)) {
            self.assertMentions($0, [empty.path, "no weights", "model.safetensors", "model.safetensors.index.json"])
        }
        try write("", to: "pytorch_model.bin", in: empty)
        XCTAssertThrowsError(try BERTModel(pretrained: empty)) { self.assertMentions($0, ["pytorch_model.bin", "pickle"]) }

        try write("{\"hidden_size\": 32,", to: "config.json", in: empty)
        XCTAssertThrowsError(try BERTModel(pretrained: empty)) { self.assertMentions($0, ["config.json", "not valid JSON"]) }
    }

    func testShardIndexErrors() throws {
        let state = try tinyState()
        let url = directory.appendingPathComponent("sharded")
        try write(tinyConfigJSON, to: "config.json", in: url)
        let names = state.keys.sorted()
        let half = names.count / 2
        try SafeTensors.write(state.filter { names.prefix(half).contains($0.key) }, to: url.appendingPathComponent("a.safetensors"))
        try SafeTensors.write(state.filter { names.dropFirst(half).contains($0.key) }, to: url.appendingPathComponent("b.safetensors"))
        func index(_ map: [String: String]) throws {
            let data = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
            try data.write(to: url.appendingPathComponent("model.safetensors.index.json"))
        }
        var map = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, $0.offset < half ? "a.safetensors" : "b.safetensors") })
        try index(map)
        let model = try BERTModel(pretrained: url)
        XCTAssertEqual(model.embeddings.wordEmbeddings.weight.doubles, state["embeddings.word_embeddings.weight"]!.doubles)

        map[names[0]] = "c.safetensors"
        try index(map)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) { self.assertMentions($0, [url.path, "missing shard c.safetensors", names[0]]) }

        map[names[0]] = "b.safetensors"
        try index(map)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) {
            self.assertMentions($0, ["b.safetensors", "has no tensor \"\(names[0])\"", "model.safetensors.index.json"])
        }

        map[names[0]] = "../a.safetensors"
        try index(map)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) { self.assertMentions($0, ["../a.safetensors", "not a file name"]) }

        try write(#"{"metadata": {}}"#, to: "model.safetensors.index.json", in: url)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) { self.assertMentions($0, ["model.safetensors.index.json", "weight_map"]) }

        try write(#"{"weight_map": {"embeddings.word_embeddings.weight": 3}}"#, to: "model.safetensors.index.json", in: url)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) {
            self.assertMentions($0, ["weight_map.embeddings.word_embeddings.weight", "expected a string"])
        }
    }

    func testKeyShapeAndDTypeMismatchesAreNamed() throws {
        var state = try tinyState()
        state["encoder.layer.0.attention.self.query.weight"] = Tensor.zeros([32, 31])
        state["encoder.layer.1.output.dense.bias"] = Tensor.zeros([32], dtype: .int64)
        state.removeValue(forKey: "embeddings.LayerNorm.bias")
        state["encoder.layer.9.output.dense.bias"] = Tensor.zeros([32])
        let url = try folder("broken", state: state)
        XCTAssertThrowsError(try BERTModel(pretrained: url)) {
            self.assertMentions($0, [url.appendingPathComponent("model.safetensors").path, "BERTModel",
                                     "shape mismatch for encoder.layer.0.attention.self.query.weight: expected [32, 32], found [32, 31]",
                                     "dtype mismatch for encoder.layer.1.output.dense.bias: expected float32, found int64",
                                     "missing from the checkpoint: embeddings.LayerNorm.bias",
                                     "unexpected tensors in the checkpoint: encoder.layer.9.output.dense.bias"])
        }

        let unrelated = try folder("unrelated", state: ["transformer.h.0.weight": Tensor.zeros([2])])
        XCTAssertThrowsError(try BERTModel(pretrained: unrelated)) {
            self.assertMentions($0, ["no checkpoint tensor matched", "transformer.h.0.weight", "embeddings.word_embeddings.weight"])
        }

        let truncated = directory.appendingPathComponent("truncated")
        try write(tinyConfigJSON, to: "config.json", in: truncated)
        try SafeTensors.encode(tinyState()).prefix(100).write(to: truncated.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try BERTModel(pretrained: truncated)) { self.assertMentions($0, ["truncated/model.safetensors"]) }
    }

    /// Nothing is loaded when something does not fit.
    func testFailedLoadChangesNothing() throws {
        var state = try tinyState()
        state["embeddings.LayerNorm.weight"] = Tensor.zeros([31])
        let model = BERTModel(config: try PretrainedFolder(try folder("partial", state: state)).config(BERTConfig.self))
        let before = model.embeddings.wordEmbeddings.weight.doubles
        XCTAssertThrowsError(try model.loadPretrained(try PretrainedFolder(directory.appendingPathComponent("partial")).weights(),
                                                      rules: BERTModel.keyRules(addPoolingLayer: true)))
        XCTAssertEqual(model.embeddings.wordEmbeddings.weight.doubles, before)
    }

    /// Buffers older checkpoints hold are skipped, TensorFlow-era LayerNorm names are read, a
    /// name given twice (with and without the prefix) is refused.
    func testKnownExtrasLegacyNamesAndDuplicates() throws {
        var state = try tinyState()
        state["embeddings.position_ids"] = Tensor.arange(24).reshaped(to: [1, 24])
        state["embeddings.LayerNorm.gamma"] = state.removeValue(forKey: "embeddings.LayerNorm.weight")!.fill(2)
        state["embeddings.LayerNorm.beta"] = state.removeValue(forKey: "embeddings.LayerNorm.bias")
        let model = try BERTModel(pretrained: try folder("legacy", state: state))
        XCTAssertEqual(model.embeddings.layerNorm.weight!.doubles, [Double](repeating: 2, count: 32))

        var twice = try tinyState()
        twice["bert.pooler.dense.bias"] = twice["pooler.dense.bias"]
        XCTAssertThrowsError(try BERTModel(pretrained: try folder("twice", state: twice))) {
            self.assertMentions($0, ["both bert.pooler.dense.bias and pooler.dense.bias would load pooler.dense.bias"])
        }
    }
}

private extension Tensor {
    /// A tensor of this shape and dtype holding `value` everywhere.
    func fill(_ value: Double) -> Tensor { Tensor.full(shape, value, dtype: dtype) }
}
