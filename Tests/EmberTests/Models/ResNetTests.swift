import Foundation
import XCTest
import Ember
import EmberModels
@testable import EmberNN

/// Ember's ResNets against torchvision's (Fixtures/generate_models.py): the same state keys
/// in the same order with the same shapes, and the same eval-mode logits when both are
/// filled with the same deterministic weights.
final class ResNetTests: XCTestCase {
    private struct Case: Decodable {
        let keys: [String]
        let shapes: [[Int]]
        let input_shape: [Int]
        let logits: [Double]
        let logits_shape: [Int]
    }

    private func reference(_ name: String) throws -> Case {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "models", withExtension: "json", subdirectory: "Fixtures"))
        return try XCTUnwrap(JSONDecoder().decode([String: Case].self, from: Data(contentsOf: url))[name])
    }

    /// The fill the generator uses (see its docstring).
    private func fill(_ model: Module) {
        noGrad {
            for (k, key) in model.stateKeys().enumerated() {
                let tensor = model.stateDict()[key]!
                guard tensor.dtype.isFloatingPoint else { continue }
                let i = Tensor.arange(from: 0, to: Double(tensor.count), dtype: .float64)
                var value = (i * 0.37 + 1.3 * Double(k)).sin() * 0.05
                if key.hasSuffix("running_var") { value = value.abs() * 0.5 + 1 }
                tensor.assign(value.reshaped(to: tensor.shape))
            }
        }
    }

    private func check(_ name: String, _ model: any Layer, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try reference(name)
        XCTAssertEqual(model.stateKeys(), expected.keys, "\(name): state keys", file: file, line: line)
        let state = model.stateDict()
        XCTAssertEqual(model.stateKeys().map { state[$0]!.shape }, expected.shapes, "\(name): shapes", file: file, line: line)

        fill(model)
        model.eval()
        let n = expected.input_shape.reduce(1, *)
        let x = (Tensor.arange(from: 0, to: Double(n), dtype: .float32) * 0.01).sin().reshaped(to: expected.input_shape)
        let logits = noGrad { model(x) }
        // float32 convolutions (oneDNN) against a float64 reference, through 20-50 layers.
        assertClose(logits, Tensor(doubles: expected.logits, shape: expected.logits_shape, dtype: .float64),
                    atol: 2e-4, rtol: 2e-3, "\(name) logits", file: file, line: line)
    }

    func testCIFARResNet8MatchesTorchvisionBlocks() throws { try check("cifar_resnet8", CIFARResNet(depth: 8)) }
    func testCIFARResNet20GrayscaleMatchesTorchvisionBlocks() throws {
        try check("cifar_resnet20_gray", CIFARResNet(depth: 20, classes: 5, inputChannels: 1))
    }
    func testResNet18CifarMatchesTorchvision() throws { try check("resnet18_cifar", ResNet.resnet18Cifar()) }
    func testResNet18MatchesTorchvision() throws { try check("resnet18", ResNet.resnet18()) }
    func testResNet34MatchesTorchvision() throws { try check("resnet34", ResNet.resnet34()) }
    func testResNet50MatchesTorchvision() throws { try check("resnet50", ResNet.resnet50()) }
}
