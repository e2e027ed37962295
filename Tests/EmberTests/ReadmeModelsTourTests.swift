import XCTest
import Ember
import EmberModels
import EmberNN
import Foundation

/// The README's tour of functional models and the profiler, verbatim.
final class ReadmeModelsTourTests: XCTestCase {
    func testTour() throws {
        // Keras's functional API: symbolic inputs, layers called on them, several inputs and outputs,
        // shared layers; named like Keras's layers (`dense_1`), which are also the state keys.
        let text = Input(shape: [nil], dtype: .int64, name: "text")                 // any number of tokens
        let photo = Input(shape: [3, 64, 64], name: "image")
        let words = LastOutput(LSTM(inputSize: 32, hiddenSize: 16, batchFirst: true))(Embedding(1000, 32)(text))
        let pixels = GlobalMaxPooling2D()(ReLU()(Conv2d(3, 16, kernelSize: 3)(photo)))
        let match = Dense(1, activation: .sigmoid)(Concatenate()([words, pixels]), name: "match")
        let twoInputs = FunctionalModel(inputs: [text, photo], outputs: [match])
        print(twoInputs.summary())                                       // Keras's table, with "Connected to"
        try twoInputs.writeGraphSVG(to: URL(fileURLWithPath: NSTemporaryDirectory() + "model.svg"))
        let scores = twoInputs(["text": Tensor.randomIntegers([2, 9], high: 1000), "image": Tensor.zeros([2, 3, 64, 64])])["match"]!
        XCTAssertEqual(scores.shape, [2, 1])

        // The profiler, torch.profiler's way: every kernel, eager, compiled and fused alike, with its
        // shapes, FLOPs and bytes; module calls named by their path; record("name") { } ranges.
        let resnet18 = ResNet.resnet18(classes: 10)
        let (_, recorded) = profile(resnet18) { record("forward") { resnet18(Tensor.zeros([4, 3, 64, 64])) } }
        print(recorded.table(groupBy: .module, peakFLOPS: 1.5e12))       // self/total time, FLOP/s, % of peak
        try recorded.writeChromeTrace(to: URL(fileURLWithPath: NSTemporaryDirectory() + "trace.json"))   // Perfetto, chrome://tracing
        XCTAssertTrue(recorded.kernels.contains { $0.scope == "layer1.0.conv1" })
    }
}
