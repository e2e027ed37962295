import Foundation
import XCTest
import Ember
@testable import EmberModels
@testable import EmberNN

/// GPT against nanoGPT's model.py (Fixtures/generate_zoo.py): vocabulary 13, context 8, two
/// layers of two heads, width 8. Logits and gradients, the tied output layer, the key-value
/// cache, greedy generation past the context, and the errors of bad input.
final class GPTTests: XCTestCase {
    private let tiny = GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)

    /// A float64 model holding the weights of case `name`.
    private func reference(_ name: String = "gpt", bias: Bool = true) throws -> GPT {
        var config = tiny
        config.bias = bias
        let model = GPT(config, dtype: .float64).eval()
        let fixtures = try Zoo.load()
        let keys = try XCTUnwrap(fixtures.cases[name]?["keys"] as? [String])
        try model.loadStateDict(Dictionary(uniqueKeysWithValues: keys.map { ($0, fixtures.tensor(name, "state." + $0)) }))
        return model
    }

    // MARK: Forward and backward

    func testGPTMatchesNanoGPT() throws {
        try Zoo.check("gpt", inputs: 1, { GPT(self.tiny, dtype: $0) }) { m, x in
            let logits = m(x[0])
            XCTAssertEqual(logits.shape, [2, 8, 13])
            return logits
        }
    }

    func testGPTWithoutBiasMatchesNanoGPT() throws {
        var config = tiny
        config.bias = false
        try Zoo.check("gpt_no_bias", inputs: 1, { GPT(config, dtype: $0) }) { m, x in try! m.logits(x[0]) }
    }

    // MARK: Tied output layer

    /// lm_head.weight is transformer.wte.weight: both keys in the state (as PyTorch's), one
    /// parameter (as PyTorch's named_parameters), one tensor after loading.
    func testOutputLayerIsTiedToTheTokenEmbedding() throws {
        let model = GPT(tiny)
        XCTAssertTrue(model.lmHead.weight === model.transformer.wte.weight)
        XCTAssertEqual(model.stateKeys().filter { $0.hasSuffix("wte.weight") || $0.hasPrefix("lm_head") },
                       ["transformer.wte.weight", "lm_head.weight"])
        XCTAssertFalse(model.namedParameters().map(\.0).contains("lm_head.weight"))
        // nanoGPT's parameter count for this configuration (sum(p.numel() for p in model.parameters())).
        XCTAssertEqual(model.parameterCount, 13 * 8 + 8 * 8 + 2 * (4 * 8 + 8 * 24 + 24 + 8 * 8 + 8 + 8 * 32 + 32 + 32 * 8 + 8) + 2 * 8)

        let loaded = try reference()
        XCTAssertTrue(loaded.lmHead.weight === loaded.transformer.wte.weight)
        // A file that keeps one name per shared tensor (safetensors' save_model) loads strictly.
        var state = loaded.stateDict()
        state["lm_head.weight"] = nil
        let fresh = GPT(tiny, dtype: .float64)
        let report = try fresh.loadStateDict(state)
        XCTAssertEqual(report.missingKeys, [])
        assertClose(fresh.lmHead.weight, loaded.transformer.wte.weight, atol: 0, rtol: 0)
    }

    /// Functional gradients (applying a parameter tree) reach the token embedding through both
    /// of its uses, as backward does.
    func testFunctionalGradientOfTheTiedWeightHasBothUses() throws {
        let model = try reference()
        let fixtures = try Zoo.load()
        let tokens = fixtures.tensor("gpt", "x0"), w = fixtures.tensor("gpt", "w")
        let grads = grad { (tree: TensorTree) in model.applying(tree) { (model(tokens) * w).sum() } }(model.parameterTree())
        XCTAssertNil(grads.flat["lm_head.weight"])
        assertClose(try XCTUnwrap(grads.flat["transformer.wte.weight"]), fixtures.tensor("gpt", "grad.transformer.wte.weight"),
                    atol: 1e-9, rtol: 1e-9)
        XCTAssertTrue(model.lmHead.weight === model.transformer.wte.weight, "applying restores the tie")
    }

    // MARK: Key-value cache

    /// Feeding the tokens in pieces through a cache gives the logits of the whole sequence.
    func testCachedLogitsEqualFullLogits() throws {
        // Float32: the pieces' matmuls round differently from the whole's.
        for (dtype, tolerance) in [(DType.float64, 1e-12), (.float32, 1e-5)] {
            let model = GPT(tiny, dtype: dtype).eval()
            try model.loadStateDict(try reference().stateDict())
            let tokens = try Zoo.load().tensor("gpt", "x0")
            let full = try model.logits(tokens)
            let cache = model.makeCache()
            var pieces = [Tensor]()
            for (start, count) in [(0, 3), (3, 1), (4, 2), (6, 1), (7, 1)] {
                pieces.append(try model.logits(tokens.narrow(axis: 1, start: start, count: count), cache: cache))
                XCTAssertEqual(cache.length, start + count)
            }
            XCTAssertEqual(cache.batchSize, 2)
            assertClose(Tensor.concatenate(pieces, axis: 1), full, atol: tolerance, rtol: tolerance, "\(dtype)")

            // The cache is full: one more token is past the context.
            XCTAssertThrowsError(try model.logits(tokens.narrow(axis: 1, start: 0, count: 1), cache: cache)) { error in
                XCTAssertEqual(error as? GPTError, .contextOverflow(cached: 8, given: 1, blockSize: 8))
                XCTAssert("\(error)".contains("block_size"), "\(error)")
            }
            cache.reset()
            XCTAssertEqual(cache.length, 0)
            assertClose(try model.logits(tokens.narrow(axis: 1, start: 0, count: 2), cache: cache),
                        full.narrow(axis: 1, start: 0, count: 2), atol: tolerance, rtol: tolerance)
        }
    }

    func testCacheRejectsAnotherBatchOrModel() throws {
        let model = GPT(tiny)
        let cache = model.makeCache()
        _ = try model.logits(Tensor([[1, 2], [3, 4]] as [[Int64]]), cache: cache)
        XCTAssertThrowsError(try model.logits(Tensor([[1]] as [[Int64]]), cache: cache)) { error in
            XCTAssert("\(error)".contains("batch of 2"), "\(error)")
        }
        var other = tiny
        other.nLayer = 1
        XCTAssertThrowsError(try GPT(other).logits(Tensor([[1]] as [[Int64]]), cache: cache)) { error in
            XCTAssert("\(error)".contains("2 layers"), "\(error)")
        }
    }

    // MARK: Generation

    /// Greedy decoding equals nanoGPT's loop for 12 tokens after a 3-token prompt: past the
    /// context of 8, the window slides (nanoGPT crops to the last block_size tokens).
    func testGreedyGenerationMatchesNanoGPT() throws {
        let fixtures = try Zoo.load()
        for (name, bias) in [("gpt", true), ("gpt_no_bias", false)] {
            let model = try reference(name, bias: bias)
            let expected = fixtures.integers(name, "greedy")
            var streamed = [Int]()
            let tokens = try model.generate(prompt: fixtures.integers(name, "prompt"), maxNewTokens: 12) { streamed.append($0) }
            XCTAssertEqual(tokens, expected, name)
            XCTAssertEqual(streamed, expected, "\(name): each token is streamed as it is chosen")
        }
    }

    func testGenerationStopsAfterTheStopToken() throws {
        let model = try reference()
        let expected = try Zoo.load().integers("gpt", "greedy")
        let stop = expected[3]
        let firstStop = try XCTUnwrap(expected.firstIndex(of: stop))
        XCTAssertEqual(try model.generate(prompt: [3, 1, 4], maxNewTokens: 12, stopToken: stop), Array(expected[...firstStop]))
        XCTAssertEqual(try model.generate(prompt: [3, 1, 4], maxNewTokens: 0), [])
    }

    /// The same seed gives the same tokens; other seeds others. Generation leaves the mode as it was.
    func testSampledGenerationIsReproducible() throws {
        let model = try reference()
        model.train()
        let sampling = try Sampling(temperature: 2, topK: 8, topP: 0.95)
        let first = try model.generate(prompt: [3, 1, 4], maxNewTokens: 10, sampling: sampling, seed: 11)
        XCTAssertEqual(try model.generate(prompt: [3, 1, 4], maxNewTokens: 10, sampling: sampling, seed: 11), first)
        let others = try (12..<15).map { try model.generate(prompt: [3, 1, 4], maxNewTokens: 10, sampling: sampling, seed: $0) }
        XCTAssert(others.contains { $0 != first }, "seeds 12-14 all gave \(first)")
        XCTAssertTrue(model.isTraining)
        XCTAssertTrue(first.allSatisfy { (0..<13).contains($0) })
    }

    func testBadInputThrowsClearErrors() throws {
        let model = GPT(tiny)
        func message(_ body: () throws -> Any) -> String {
            do {
                _ = try body()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssert(message { try model.generate(prompt: [], maxNewTokens: 3) }.contains("prompt is empty"))
        XCTAssert(message { try model.generate(prompt: [1, 13], maxNewTokens: 3) }.contains("token id 13 at position 1"))
        XCTAssert(message { try model.generate(prompt: [-1], maxNewTokens: 3) }.contains("0..<13"))
        XCTAssert(message { try model.generate(prompt: Array(repeating: 1, count: 9), maxNewTokens: 3) }
            .contains("9 tokens exceed the context length (block_size) of 8"))
        XCTAssert(message { try model.generate(prompt: [1], maxNewTokens: -1) }.contains("maxNewTokens"))
        XCTAssert(message { try model.generate(prompt: [1], maxNewTokens: 2, stopToken: 20) }.contains("stop token 20"))
        XCTAssert(message { try model.logits(Tensor([[0.5]] as [[Float]])) }.contains("expected int64 tokens"))
        XCTAssert(message { try model.logits(Tensor([1, 2] as [Int64])) }.contains("[batch, length]"))
        XCTAssert(message { try Sampling(temperature: 0) }.contains("temperature"))
        XCTAssert(message { try Sampling(topK: 0) }.contains("topK"))
        XCTAssert(message { try Sampling(topP: 1.5) }.contains("topP"))
    }

    // MARK: Configuration

    func testConfigurationUsesNanoGPTsJSONKeys() throws {
        let json = #"{"vocab_size": 13, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8, "dropout": 0.1, "bias": false}"#
        let config = try JSONDecoder().decode(GPTConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0.1, bias: false))
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any]
        XCTAssertEqual(Set(encoded?.keys ?? [:].keys), ["vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias"])
        let defaults = try JSONDecoder().decode(GPTConfig.self, from: Data(#"{"vocab_size": 5, "block_size": 4, "n_layer": 1, "n_head": 1, "n_embd": 2}"#.utf8))
        XCTAssertEqual(defaults.dropout, 0)
        XCTAssertTrue(defaults.bias)
        XCTAssertEqual(GPTConfig.gpt2, GPTConfig(vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768))

        let bad = #"{"vocab_size": 13, "block_size": 8, "n_layer": 2, "n_head": 3, "n_embd": 8}"#
        XCTAssertThrowsError(try JSONDecoder().decode(GPTConfig.self, from: Data(bad.utf8))) { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.debugDescription, "GPTConfig: n_embd (8) must be a multiple of n_head (3)")
        }
    }

    /// nanoGPT's initialization: N(0, 0.02²), c_proj with std 0.02/√(2·n_layer), zero biases.
    func testInitializationFollowsNanoGPT() {
        manualSeed(0)
        let model = GPT(GPTConfig(vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 64))
        let state = model.stateDict()
        func std(_ key: String) -> Double { state[key]!.cast(to: .float64).standardDeviation().item() }
        XCTAssertEqual(std("transformer.wte.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.0.attn.c_attn.weight"), 0.02, accuracy: 0.001)
        XCTAssertEqual(std("transformer.h.3.mlp.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(std("transformer.h.1.attn.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(state["transformer.h.0.mlp.c_fc.bias"]!.abs().max().item(), 0)
        XCTAssertEqual(state["transformer.ln_f.weight"]!.min().item(), 1)
    }

    /// Every module's call is recorded, nanoGPT's names in the table.
    func testSummaryListsTheBlocks() {
        let text = GPT(tiny).summary(input: Tensor([[1, 2, 3]] as [[Int64]]))
        for row in ["transformer.h.1.attn (CausalSelfAttention)", "transformer.ln_f (LayerNorm)", "lm_head (LanguageModelHead)"] {
            XCTAssert(text.contains(row), "no \(row) in\n\(text)")
        }
        XCTAssert(text.contains("[1, 3, 13]"), text)
    }

    /// Next-token training through `Layer` lowers the loss on a repeating sequence.
    func testGPTTrains() {
        manualSeed(9)
        let model = GPT(GPTConfig(vocabSize: 5, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16))
        let sequence: [Int64] = [0, 1, 2, 3, 4, 0, 1, 2, 3]
        let inputs = Tensor(Array(sequence.prefix(8)), shape: [1, 8]), targets = Tensor(Array(sequence.dropFirst()))
        let flat = Sequential(model, Flatten(startAxis: 0, endAxis: 1))
        let (before, after) = lossBeforeAndAfterTraining(flat, inputs, targets)
        XCTAssertLessThan(after, before / 10)
    }
}
