import Foundation
import XCTest
import Ember
import EmberIO
@testable import EmberModels
@testable import EmberNN

/// MLP, LeNet-5 and the transformer classifier against the same models in PyTorch
/// (Fixtures/generate_zoo.py): state keys in PyTorch's order, the reference state loaded
/// strictly, outputs and gradients in float64 and float32.
final class ZooTests: XCTestCase {
    // MARK: MLP (torchvision.ops.MLP)

    func testMLPWithReLUFlattensImages() throws {
        try Zoo.check("mlp_relu", inputs: 1, { MLP(inputFeatures: 12, hiddenSizes: [16, 8], outputFeatures: 5, dtype: $0) }) { m, x in
            XCTAssertEqual(x[0].shape, [4, 3, 2, 2])
            return m(x[0])
        }
    }

    /// Dropout is off in evaluation mode.
    func testMLPWithGELUAndDropoutInEvaluation() throws {
        try Zoo.check("mlp_gelu_dropout_eval", inputs: 1, {
            MLP(inputFeatures: 12, hiddenSizes: [10], outputFeatures: 3, activation: .gelu, dropout: 0.3, dtype: $0).eval()
        }) { m, x in m(x[0]) }
    }

    func testMLPWithTanhSiLUAndNoHiddenLayer() throws {
        try Zoo.check("mlp_tanh", inputs: 1, { MLP(inputFeatures: 6, hiddenSizes: [7], outputFeatures: 2, activation: .tanh, dtype: $0) }) {
            m, x in m(x[0])
        }
        try Zoo.check("mlp_silu", inputs: 1, { MLP(inputFeatures: 6, hiddenSizes: [7, 7], outputFeatures: 4, activation: .silu, dtype: $0) }) {
            m, x in m(x[0])
        }
        try Zoo.check("mlp_linear", inputs: 1, { MLP(inputFeatures: 6, hiddenSizes: [], outputFeatures: 4, dtype: $0) }) { m, x in m(x[0]) }
    }

    func testMLPDropoutActsInTraining() {
        manualSeed(3)
        let model = MLP(inputFeatures: 4, hiddenSizes: [64], outputFeatures: 2, dropout: 0.5)
        let x = Tensor.ones([1, 4])
        XCTAssertNotEqual(model(x).floats, model(x).floats, "two training-mode passes drop different units")
        model.eval()
        XCTAssertEqual(model(x).floats, model(x).floats)
    }

    // MARK: LeNet-5

    /// The fill of generate_zoo.py: state tensor k gets 0.1 sin(0.37 i + 1.3 k).
    private func fillLikeGenerator(_ model: Module) {
        noGrad {
            let state = model.stateDict()
            for (k, key) in model.stateKeys().enumerated() {
                let tensor = state[key]!
                let i = Tensor.arange(from: 0, to: Double(tensor.count), dtype: .float64)
                tensor.assign(((i * 0.37 + 1.3 * Double(k)).sin() * 0.1).reshaped(to: tensor.shape))
            }
        }
    }

    private func checkLeNet(_ name: String, _ make: (DType) -> LeNet5) throws {
        let fixtures = try Zoo.load()
        let url = try XCTUnwrap(Bundle.module.url(forResource: "zoo_lenet", withExtension: "safetensors", subdirectory: "Fixtures"))
        let gradients = try SafeTensorsFile(contentsOf: url)
        let keys = try XCTUnwrap(fixtures.cases[name]?["keys"] as? [String])
        let shapes = try XCTUnwrap(fixtures.cases[name]?["shapes"] as? [[Int]])
        // Float32: convolutions and 400-term sums in float32 against a float64 reference.
        for (dtype, tolerance) in [(DType.float64, 1e-10), (.float32, 1e-5)] {
            let model = make(dtype)
            XCTAssertEqual(model.stateKeys(), keys, name)
            let state = model.stateDict()
            XCTAssertEqual(model.stateKeys().map { state[$0]!.shape }, shapes, name)
            fillLikeGenerator(model)
            let y = fixtures.tensor(name, "y")
            let count = model.inputChannels * model.inputSize * model.inputSize * 2
            let x = (Tensor.arange(from: 0, to: Double(count), dtype: .float64) * 0.01).sin()
                .reshaped(to: [2, model.inputChannels, model.inputSize, model.inputSize]).cast(to: dtype).requiringGrad()
            let output = model(x)
            assertClose(output, y, atol: tolerance, rtol: tolerance, "\(name) \(dtype) logits")
            (output * fixtures.tensor(name, "w")).sum().backward()
            assertClose(try XCTUnwrap(x.grad), try gradients.tensor(named: "\(name).x0"), atol: tolerance, rtol: tolerance,
                        "\(name) \(dtype) input gradient")
            for (key, parameter) in model.namedParameters() where gradients.names.contains("\(name).\(key)") {
                assertClose(try XCTUnwrap(parameter.grad, key), try gradients.tensor(named: "\(name).\(key)"),
                            atol: tolerance, rtol: tolerance, "\(name) \(dtype) gradient of \(key)")
            }
        }
    }

    func testLeNet5On32x32MatchesPyTorch() throws { try checkLeNet("lenet32") { LeNet5(dtype: $0) } }

    /// 28x28 images (first convolution padded by 2), three channels, seven classes.
    func testLeNet5On28x28RGBMatchesPyTorch() throws {
        try checkLeNet("lenet28_rgb") { LeNet5(classes: 7, inputChannels: 3, inputSize: 28, dtype: $0) }
    }

    // MARK: Transformer classifier (nn.TransformerEncoder)

    private func transformer(normFirst: Bool, activation: TransformerActivation, dtype: DType) -> TransformerClassifier {
        TransformerClassifier(vocabularySize: 11, classes: 3, dModel: 8, numHeads: 2, numLayers: 2, feedforward: 16,
                              maxLength: 10, dropout: 0.1, paddingIndex: 0, normFirst: normFirst, activation: activation,
                              dtype: dtype).eval()
    }

    /// Padding (id 0) at the ends of two of the three sequences, taken from the tokens.
    func testPreNormTransformerClassifierMatchesPyTorch() throws {
        try Zoo.check("transformer_pre_gelu", inputs: 1, { self.transformer(normFirst: true, activation: .gelu, dtype: $0) }) { m, x in
            let logits = m(x[0])
            XCTAssertEqual(logits.shape, [3, 3])
            return logits
        }
    }

    func testPostNormTransformerClassifierMatchesPyTorch() throws {
        try Zoo.check("transformer_post_relu", inputs: 1, { self.transformer(normFirst: false, activation: .relu, dtype: $0) }) {
            m, x in m(x[0])
        }
    }

    func testTransformerClassifierTakesAnExplicitPaddingMask() throws {
        try Zoo.check("transformer_explicit_mask", inputs: 2, { self.transformer(normFirst: true, activation: .gelu, dtype: $0) }) {
            m, x in m(x[0], paddingMask: x[1])
        }
    }

    /// As a `Layer` (what `fit` calls) it reads padding from the tokens; more padding at the end
    /// changes nothing.
    func testTransformerClassifierIgnoresPadding() {
        manualSeed(5)
        let model = transformer(normFirst: true, activation: .gelu, dtype: .float64)
        let tokens = Tensor([[3, 1, 4, 0], [6, 5, 0, 0]] as [[Int64]])
        let longer = Tensor([[3, 1, 4, 0, 0, 0], [6, 5, 0, 0, 0, 0]] as [[Int64]])
        let layer: any Layer = model
        assertClose(layer(longer), model(tokens, paddingMask: tokens .== 0), atol: 1e-12, rtol: 1e-12)
        XCTAssertEqual(model.stateKeys().first, "token_embedding.weight")
        XCTAssertEqual(model.tokenEmbedding.weight[0].doubles, Array(repeating: 0, count: 8), "the padding row starts at zero")
    }

    /// `fit` trains it like any layer: a few Adam steps on a two-class toy problem.
    func testTransformerClassifierTrains() {
        manualSeed(7)
        let model = TransformerClassifier(vocabularySize: 6, classes: 2, dModel: 16, numHeads: 2, numLayers: 1, maxLength: 4,
                                          dropout: 0)
        let tokens = Tensor([[1, 2, 0, 0], [3, 4, 5, 0], [1, 1, 2, 0], [4, 5, 0, 0]] as [[Int64]])
        let labels = Tensor([0, 1, 0, 1] as [Int64])
        let (before, after) = lossBeforeAndAfterTraining(model, tokens, labels)
        XCTAssertLessThan(after, before / 10)
    }
}
