import XCTest
import Ember
import EmberModels
@testable import EmberNN

/// Every zoo model under compile, a compiled training step, vmap and jvp (see
/// ConformanceSupport.swift), at tiny sizes. A new model joins with one line in `cases`;
/// `testEveryModelHasACase` fails until it does.
final class ZooConformanceTests: XCTestCase {
    static let gpt = GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0.2)
    static let bert = BERTConfig(vocabSize: 20, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 12,
                                 hiddenDropoutProb: 0.2, attentionProbsDropoutProb: 0.2, maxPositionEmbeddings: 8, numLabels: 3)

    static let cases: [ConformanceCase] = [
        .layer(.normal([2, 3])) { MLP(inputFeatures: 6, hiddenSizes: [5, 4], outputFeatures: 3, activation: .gelu, dropout: 0.2, dtype: $0) },
        // ResNets at a sixteenth of their width (ResNet-8 at its own): at full width, ResNet-18 and
        // -50 take half a minute to initialize in a debug build. LeNet-5 in float32 (see
        // `ConformanceCase.dtype`).
        .layer(.normal([1, 28, 28]), "28x28") { LeNet5(classes: 4, inputSize: 28, dtype: $0) }.inFloat32(),
        .layer(.normal([3, 4, 4]), "ResNet-8") { CIFARResNet(depth: 8, classes: 3, dtype: $0) },
        .layer(.normal([3, 8, 8]), "ResNet-18, CIFAR stem, width 4") {
            ResNet(block: .basic, layers: [2, 2, 2, 2], classes: 3, cifarStem: true, baseWidth: 4, dtype: $0)
        },
        .layer(.normal([3, 16, 16]), "ResNet-18, width 4") {
            ResNet(block: .basic, layers: [2, 2, 2, 2], classes: 3, baseWidth: 4, dtype: $0)
        },
        .layer(.normal([3, 16, 16]), "ResNet-50, width 4") {
            ResNet(block: .bottleneck, layers: [3, 4, 6, 3], classes: 3, baseWidth: 4, dtype: $0)
        }.skipping(.jvpInTrainingMode, "stages 3 and 4 of a 16x16 image are 1x1, where batch norm in training normalizes "
                   + "one value per example and channel: through 30 such layers the derivative is too ill-conditioned for "
                   + "finite differences (tangents of 10⁶); training-mode jvp through residual blocks is checked by ResNet-8 "
                   + "and ResNet-18"),
        .layer(.paddedTokens(length: 6, vocabulary: 11), "pre-norm, GELU") {
            TransformerClassifier(vocabularySize: 11, classes: 3, dModel: 8, numHeads: 2, numLayers: 2, feedforward: 12,
                                  maxLength: 8, dropout: 0.2, dtype: $0)
        },
        .layer(.paddedTokens(length: 6, vocabulary: 11), "post-norm, ReLU") {
            TransformerClassifier(vocabularySize: 11, classes: 3, dModel: 8, numHeads: 2, numLayers: 1, feedforward: 12,
                                  maxLength: 8, dropout: 0.2, normFirst: false, activation: .relu, dtype: $0)
        },
        .layer(.paddedTokens(length: 6, vocabulary: 11), "two layers, bidirectional") {
            LSTMClassifier(vocabularySize: 11, classes: 3, embeddingSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true,
                           dropout: 0.2, dtype: $0)
        },
        .layer(.integers([6], below: 13)) { GPT(gpt, dtype: $0) },
        .layer(.integers([7], below: 13), "KV cache, no bias") { dtype -> PiecewiseGPT in
            var config = gpt
            config.bias = false
            return PiecewiseGPT(config, batch: 3, dtype: dtype)  // the harness's batch
        }.skipping(.perExampleGradients, "a cache is one set of buffers updated in place, which cannot take a different "
                   + "update from each example (as batch norm's running statistics); per-example decoding needs a cache per example")
        .skipping(.finiteDifferences, "no derivative flows through the keys and values a cache holds from earlier calls "
                  + "(stored values, in eager and traced calls alike), while finite differences see the later pieces change "
                  + "with them; jvp is still checked against eager outputs and vjp"),
        .module([.paddedTokens(length: 6, vocabulary: 20), .attentionMask(length: 6), .integers([6], below: 2)]) {
            BERTModel(config: bert, dtype: $0)
        } forward: { bert, xs in
            let (last, pooled) = bert(inputIDs: xs[0], attentionMask: xs[1], tokenTypeIDs: xs[2])
            return [last, pooled!]
        },
        .layer(.paddedTokens(length: 6, vocabulary: 20)) { BERTForSequenceClassification(config: bert, dtype: $0) },
        .module([.paddedTokens(length: 6, vocabulary: 20), .attentionMask(length: 6)], "every pooling mode, normalized") {
            SentenceEmbeddingModel(transformer: BERTModel(config: bert, addPoolingLayer: false, dtype: $0),
                                   pooling: SentencePooling(SentencePooling.Mode.allCases), normalizes: true)
        } forward: { model, xs in [model(inputIDs: xs[0], attentionMask: xs[1])] },
    ]

    func testCompiledForwardEqualsEager() { ConformanceCase.run(.compile, Self.cases) }
    func testCompiledTrainingStepEqualsEager() { ConformanceCase.run(.trainingStep, Self.cases) }
    func testVmappedPerExampleGradientsEqualALoop() { ConformanceCase.run(.perExampleGradients, Self.cases) }
    func testJVPMatchesFiniteDifferences() { ConformanceCase.run(.jvp, Self.cases) }

    /// Every public module class declared in Sources/EmberModels is a case, or a part of one
    /// (BERT's embeddings, layers and pooler; GPT's blocks).
    func testEveryModelHasACase() throws {
        var covered = Set(Self.cases.flatMap(\.typeNames))
        for c in Self.cases where ["BERT", "Sentence", "GPT"].contains(where: { c.typeNames[0].hasPrefix($0) }) {
            covered.formUnion(c.build().namedModules().map { String(describing: type(of: $0.1)) })
        }
        let declared = try declaredPublicModules(in: "Sources/EmberModels")
        XCTAssertTrue(declared.contains("GPT") && declared.contains("BERTPooler"), "\(declared)")
        XCTAssertEqual(declared.subtracting(covered), [], "models without a conformance case")
    }

    /// One compiled decode step serves every step of a static cache: its logits equal the eager
    /// cache's and the whole sequence's without a cache, and it is traced once per token count.
    func testGPTCompiledDecodeStepEqualsEagerCacheAndFullForward() throws {
        manualSeed(0)
        let model = GPT(Self.gpt, dtype: .float64).eval()
        let tokens = Tensor.randomIntegers([2, 8], high: 13, source: .key(Key(5)))
        let full = try model.logits(tokens)
        let eagerCache = model.makeCache()
        let compiledCache = model.makeCache(batchSize: 2)
        let step = compile { (tokens: Tensor) in try! model.logits(tokens, cache: compiledCache) }
        for round in 0..<2 {
            var pieces = [(start: 0, count: 3)] + (3..<8).map { (start: $0, count: 1) }
            if round == 1 {
                // After a reset, the same compiled functions start again from position 0.
                compiledCache.reset()
                eagerCache.reset()
                pieces = [(start: 0, count: 3), (start: 3, count: 1)]
            }
            for (start, count) in pieces {
                let piece = tokens.narrow(axis: 1, start: start, count: count)
                let expected = full.narrow(axis: 1, start: start, count: count)
                let compiled = noGrad { step(piece) }
                assertClose(compiled, expected, atol: 1e-12, rtol: 1e-12, "compiled step at \(start)")
                assertClose(try model.logits(piece, cache: eagerCache), expected, atol: 1e-12, rtol: 1e-12, "eager step at \(start)")
                XCTAssertEqual(compiledCache.length, start + count)
            }
        }
        XCTAssertEqual(step.traceCount, 2, "one trace for the prefill's token count, one for decode steps")
        XCTAssertThrowsError(try model.logits(tokens.narrow(axis: 1, start: 0, count: 5), cache: compiledCache)) { error in
            XCTAssertEqual(error as? GPTError, .contextOverflow(cached: 4, given: 5, blockSize: 8))
        }
    }

    /// A cache made inside a compiled function belongs to each call, as in eager calls: its
    /// buffers' initial contents are constants of the graph, and assignments to them are
    /// values of the call, not updates that outlive it.
    func testGPTCacheMadeInsideACompiledFunction() throws {
        manualSeed(0)
        let model = GPT(Self.gpt, dtype: .float64).eval()
        let tokens = Tensor.randomIntegers([2, 7], high: 13, source: .key(Key(6)))
        let piecewise = { (tokens: Tensor) -> Tensor in
            let cache = model.makeCache(batchSize: 2)
            let pieces = [(0, 3), (3, 1), (4, 2), (6, 1)].map { start, count in
                try! model.logits(tokens.narrow(axis: 1, start: start, count: count), cache: cache)
            }
            return Tensor.concatenate(pieces, axis: 1)
        }
        let compiled = compile(piecewise)
        let full = try model.logits(tokens)
        for call in 0..<2 {
            assertClose(noGrad { compiled(tokens) }, full, atol: 1e-12, rtol: 1e-12, "call \(call + 1)")
        }
    }

    /// The harness passes every input to `jvp` as a primal (integer ones carry no tangent). A
    /// function that captures its tokens instead makes `GPT` read them (to throw
    /// `tokenOutOfRange`) while `jvp` traces it: a captured tensor's values can be read.
    func testGPTUnderJVPWithCapturedTokens() throws {
        manualSeed(0)
        let model = GPT(Self.gpt, dtype: .float64).eval()
        let tokens = Tensor.randomIntegers([2, 5], high: 13, source: .key(Key(7)))
        let weight = model.parameterTree().flat["transformer.wte.weight"]!
        let tangent = Tensor.randomNormal(weight.shape, dtype: .float64, source: .key(Key(8)))
        let (output, _) = jvp({ (w: Tensor) in
            model.applying(TensorTree(flat: ["transformer.wte.weight": w])) { model(tokens) }
        }, primal: weight, tangent: tangent)
        assertClose(output, model(tokens), atol: 1e-12, rtol: 1e-12)
    }
}

/// A GPT that reads a sequence in pieces (a prefill, then decode steps) through a cache it owns,
/// reset at the start of each call: the logits of the whole sequence.
final class PiecewiseGPT: Module, Layer {
    let gpt: GPT
    let cache: KVCache

    init(_ config: GPTConfig, batch: Int, dtype: DType) {
        gpt = GPT(config, dtype: dtype)
        cache = gpt.makeCache(batchSize: batch)
    }

    func forward(_ tokens: Tensor) -> Tensor {
        cache.reset()
        let pieces = [(0, 3), (3, 1), (4, 2), (6, 1)].map { start, count in
            try! gpt.logits(tokens.narrow(axis: 1, start: start, count: count), cache: cache)
        }
        return Tensor.concatenate(pieces, axis: 1)
    }
}
