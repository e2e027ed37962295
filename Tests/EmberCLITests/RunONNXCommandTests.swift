@testable import EmberCLI
import Ember
import EmberIO
import Foundation
import XCTest

/// `ember run MODEL.onnx`: outputs saved by the graph's names, and each flag's mistakes
/// reported in one line.
final class RunONNXCommandTests: XCTestCase {
    let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../EmberONNXTests/Fixtures/tiny_resnet.onnx").standardized.path

    func testRunWritesTheOutputsByName() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("images.npy"), output = directory.appendingPathComponent("out.npz")
        try NumPy.write(Tensor.randomNormal([2, 3, 32, 32], key: Tensor.randomKey(0)), to: input)
        XCTAssertNil(message(RunONNX.self, [model, "--input", "images=\(input.path)", "--out", output.path]))
        XCTAssertEqual(try NumPy.loadArchive(contentsOf: output)["logits"]?.shape, [2, 10])

        XCTAssertEqual(message(RunONNX.self, [model, "--input", "images=\(input.path)", "--out", "out.txt"]),
                       "--out 'out.txt' must name an .npz file (for example outputs.npz)")
        XCTAssertEqual(message(RunONNX.self, [model, "--input", "images", "--out", output.path]),
                       "--input 'images' must be NAME=FILE.npy (a graph input's name and a NumPy array file)")
        XCTAssertEqual(message(RunONNX.self, [model, "--input", "pixels=\(input.path)", "--out", output.path]),
                       "--input 'pixels=\(input.path)': the model has no input 'pixels'; its inputs are images")
        XCTAssertEqual(message(RunONNX.self, [model, "--out", output.path]),
                       "missing --input for images (the model's inputs: images)")
    }
}
