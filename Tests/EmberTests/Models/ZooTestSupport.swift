import XCTest
import Ember
import EmberOptim
@testable import EmberNN

/// The cases of Fixtures/generate_zoo.py, read once.
enum Zoo {
    static let fixtures: Fixtures? = try? Fixtures("zoo")

    static func load(file: StaticString = #filePath, line: UInt = #line) throws -> Fixtures {
        try XCTUnwrap(fixtures, "Fixtures/zoo.json is missing or unreadable", file: file, line: line)
    }

    /// Checks a model against the PyTorch case `name` (a module_case with "keys"): the state
    /// keys in PyTorch's order; then, for a float64 model, output and gradients of every
    /// parameter and float input to 1e-9 (the reference is float64), and for a float32 model to
    /// `float32Tolerance` (float32 rounding through a few layers of width ≤ 120). `make` builds
    /// the model in a dtype, in the mode of the case; the case's state is loaded strictly.
    static func check<M: Module>(_ name: String, inputs: Int, float32Tolerance: Double = 1e-4,
                                 file: StaticString = #filePath, line: UInt = #line,
                                 _ make: (DType) -> M, _ forward: (M, [Tensor]) -> Tensor) throws {
        let fixtures = try load(file: file, line: line)
        let keys = try XCTUnwrap(fixtures.cases[name]?["keys"] as? [String], "\(name): no keys", file: file, line: line)
        for (dtype, tolerance) in [(DType.float64, 1e-9), (.float32, float32Tolerance)] {
            let model = make(dtype)
            XCTAssertEqual(model.stateKeys(), keys, "\(name): state keys and their order", file: file, line: line)
            fixtures.checkModule(name, model, inputs: inputs, atol: tolerance, rtol: tolerance, file: file, line: line) {
                forward(model, $0)
            }
        }
    }
}

extension Fixtures {
    /// An integer tensor of a case as Swift integers.
    func integers(_ name: String, _ key: String, file: StaticString = #filePath, line: UInt = #line) -> [Int] {
        tensor(name, key, file: file, line: line).doubles.map { Int($0) }
    }
}

/// Cross-entropy before and after 15 Adam steps (lr 0.03) on one batch: training runs end to
/// end through the model's `Layer` conformance.
func lossBeforeAndAfterTraining(_ model: any Layer, _ inputs: Tensor, _ labels: Tensor) -> (before: Double, after: Double) {
    let optimizer = Adam(model.parameters(), lr: 0.03)
    var losses = [Double]()
    for _ in 0...15 {
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(inputs), labels: labels)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    }
    return (losses[0], losses[15])
}
