import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import Ember
@testable import EmberNN
import EmberOptim

/// Functional models: symbolic inputs, layer calls recorded into a graph, several inputs and
/// outputs, shared layers; Keras's names, summary and parameter counts; PyTorch-style keys.
final class FunctionalModelTests: XCTestCase {
    /// Text (token ids of any length) and an image, each encoded, a shared layer on both
    /// codes, and two outputs: a probability and the merged code.
    static func textAndImageModel(vocabulary: Int, dtype: DType) -> FunctionalModel {
        let text = Input(shape: [nil], dtype: .int64, name: "text")
        let image = Input(shape: [2, 6, 6], dtype: dtype, name: "image")
        let words = LastOutput(LSTM(inputSize: 4, hiddenSize: 3, batchFirst: true, dtype: dtype))(
            Embedding(vocabulary, 4, dtype: dtype)(text))
        let pixels = GlobalMaxPooling2D()(ReLU()(Conv2d(2, 3, kernelSize: 3, dtype: dtype)(image)))
        let shared = Dense(3, activation: .tanh, dtype: dtype)
        let merged = Add()([shared(words), shared(pixels)], name: "code")
        let probability = Dense(1, activation: .sigmoid, dtype: dtype)(Concatenate()([merged, words]), name: "probability")
        return FunctionalModel(inputs: [text, image], outputs: [probability, merged], name: "text_and_image")
    }

    /// Keras's MNIST example: Input 784 → Dense 64 relu → Dense 64 relu → Dense 10 softmax.
    func testTheKerasMNISTModel() throws {
        let inputs = Input(shape: [784])
        var x = Dense(64, activation: .relu)(inputs)
        x = Dense(64, activation: .relu)(x)
        let outputs = Dense(10, activation: .softmax)(x)
        XCTAssertEqual(outputs.shape, [10])
        XCTAssertEqual(outputs.description, "[None, 10]")
        let model = FunctionalModel(inputs: [inputs], outputs: [outputs], name: "mnist_model")

        XCTAssertEqual(model.parameterCount, 55_050, "Keras's count for this model")
        XCTAssertEqual(model.namedParameters().map(\.0),
                       ["dense.weight", "dense.bias", "dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"])
        XCTAssertEqual(model.namedParameters()[0].1.shape, [64, 784], "PyTorch's layout")
        let probabilities = model(Tensor.randomNormal([5, 784]))
        XCTAssertEqual(probabilities.shape, [5, 10])
        XCTAssertLessThan((probabilities.sum(axis: 1) - 1).abs().max().item(), 1e-5)

        let summary = model.summary()
        XCTAssertTrue(summary.hasPrefix(#"Model: "mnist_model""#), summary)
        for expected in ["input (InputLayer)", "[None, 784]", "dense_1 (Dense)", "[None, 64]", "55,050", "Connected to", "Trainable params: 55,050"] {
            XCTAssertTrue(summary.contains(expected), "\(expected) missing from\n\(summary)")
        }
        XCTAssertTrue(summary.split(separator: "\n").contains { $0.hasPrefix("dense_2 (Dense)") && $0.hasSuffix("dense_1") }, summary)
    }

    /// The same computation written out by hand: values and gradients agree, and the shared
    /// layer's gradient sums its two uses.
    func testTwoInputsSharedLayerAndOutputsByName() throws {
        manualSeed(3)
        let model = Self.textAndImageModel(vocabulary: 9, dtype: .float64)
        XCTAssertEqual(model.inputNames, ["text", "image"])
        XCTAssertEqual(model.outputNames, ["probability", "code"])
        // Named as Keras names them, in the order of first call.
        XCTAssertEqual(model.layers.map(\.name),
                       ["embedding", "last_output", "dense", "conv2d", "re_lu", "global_max_pooling2d", "code", "concatenate", "probability"])
        XCTAssertEqual(model.outputs.map(\.shape), [[1], [3]])

        let tokens = Tensor([1, 4, 2, 8, 0, 3, 3, 5] as [Int64], shape: [2, 4])
        let image = Tensor.randomNormal([2, 2, 6, 6], dtype: .float64)
        let outputs = model(["text": tokens, "image": image])
        XCTAssertEqual(outputs["probability"]?.shape, [2, 1])
        XCTAssertEqual(outputs["code"]?.shape, [2, 3])

        // By hand, with the model's own layers.
        let modules = Dictionary(uniqueKeysWithValues: model.layers.map { ($0.name, $0.module) })
        let words = (modules["last_output"] as! LastOutput)((modules["embedding"] as! Embedding)(tokens))
        let pixels = (modules["conv2d"] as! Conv2d)(image).relu().max(axes: [2, 3])
        let shared = modules["dense"] as! Dense
        let code = shared(words) + shared(pixels)
        let probability = (modules["probability"] as! Dense)(Tensor.concatenate([code, words], axis: 1))
        XCTAssertEqual(outputs["code"]!.doubles, code.doubles)
        XCTAssertEqual(outputs["probability"]!.doubles, probability.doubles)

        let weight = try XCTUnwrap(shared.weight)
        func gradient(_ run: () -> (Tensor, Tensor)) -> Tensor {
            model.zeroGrad()
            let (p, c) = run()
            (p.sum() + (c * c).sum()).backward()
            return weight.grad!
        }
        let graphGradient = gradient { let o = model([tokens, image]); return (o[0], o[1]) }
        let handGradient = gradient { (probability, code) }
        XCTAssertEqual(graphGradient.doubles, handGradient.doubles)
        XCTAssertEqual(model.namedParameters().filter { $0.0.hasPrefix("dense.") }.count, 2, "the shared layer's weights appear once")

        // Any text length: the input's size is free, and so are the LSTM's steps.
        XCTAssertEqual(model([Tensor.zeros([3, 7], dtype: .int64), Tensor.zeros([3, 2, 6, 6], dtype: .float64)])[0].shape, [3, 1])
        XCTAssertTrue(model.summary().contains("code (Add)"), model.summary())
        XCTAssertTrue(model.summary().contains("dense (Dense)") && model.summary().contains("last_output; global_max_pooling2d"),
                      model.summary())
    }

    /// One input and one output: a Layer that `fit` trains like any other.
    func testASingleInputModelIsALayerThatTrains() throws {
        func build() -> FunctionalModel {
            let inputs = Input(shape: [2])
            return FunctionalModel(inputs: [inputs], outputs: [Dense(4)(Dense(16, activation: .relu)(inputs))])
        }
        manualSeed(1)
        let model = build()
        let x = Tensor.randomNormal([64, 2])
        let y = (x.sum(axis: 1) .> 0).cast(to: .int64)
        let optimizer = SGD(model.parameters(), lr: 0.5)
        var losses: [Double] = []
        for _ in 0..<30 {
            optimizer.zeroGrad()
            let loss = crossEntropy(logits: model(x), labels: y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        }
        XCTAssertLessThan(losses.last!, losses.first! / 2, "\(losses)")
        // Its state round-trips through PyTorch-style keys.
        XCTAssertEqual(model.stateDict().keys.sorted(), ["dense.bias", "dense.weight", "dense_1.bias", "dense_1.weight"])
        let copy = build()
        try copy.loadStateDict(model.stateDict())
        XCTAssertEqual(copy(x).doubles, model(x).doubles)
    }

    /// The graph as SVG: a box per input and layer (one for the shared layer), an arrow per
    /// connection; valid XML.
    func testGraphSVG() throws {
        let model = Self.textAndImageModel(vocabulary: 9, dtype: .float32)
        let svg = model.graphSVG()
        let document = try XMLDocument(data: Data(svg.utf8))
        XCTAssertEqual(document.rootElement()?.name, "svg")
        XCTAssertEqual(svg.components(separatedBy: "<rect").count - 1, 2 + model.layers.count)
        // embedding→last_output, last_output→dense, conv2d→re_lu→pool, pool→dense, dense→code (once), code→concatenate,
        // last_output→concatenate, concatenate→probability, and the inputs'.
        XCTAssertEqual(svg.components(separatedBy: "<line").count - 1, 11)
        XCTAssertTrue(svg.contains("dense: Dense") && svg.contains("text: Input") && svg.contains("[None, None]"), svg)
    }

    /// Dense without its input size is built by its first call.
    func testDenseIsBuiltOnItsFirstCall() {
        let dense = Dense(3)
        XCTAssertNil(dense.inputFeatures)
        XCTAssertEqual(dense.parameters().count, 0)
        XCTAssertEqual(dense(Tensor.ones([2, 5])).shape, [2, 3])
        XCTAssertEqual(dense.inputFeatures, 5)
        XCTAssertEqual(dense.bias?.doubles, [0, 0, 0], "Keras's zero bias")
        XCTAssertEqual(FunctionalModel.layerName("GlobalMaxPooling2D"), "global_max_pooling2d")
        XCTAssertEqual(FunctionalModel.layerName("LSTM"), "lstm")
    }
}
