import Foundation
import XCTest
import Ember
@testable import EmberOptim

/// stateDict / loadStateDict: resuming from a saved state continues exactly as an
/// uninterrupted run, the state survives JSON, and a state that does not fit is refused
/// with an error that names the mismatch.
final class OptimizerStateTests: XCTestCase {
    /// w [3, 4] and b [4] of a small least-squares problem, in float64.
    private func makeParameters() -> [Tensor] {
        [Tensor(doubles: (0..<12).map { Double($0) / 10 - 0.5 }, shape: [3, 4], dtype: .float64).requiringGrad(),
         Tensor(doubles: [0.1, -0.2, 0.3, -0.4], dtype: .float64).requiringGrad()]
    }

    private func train(_ parameters: [Tensor], _ optimizer: any OptimizerProtocol, steps: Range<Int>) {
        for step in steps {
            let x = Tensor(doubles: (0..<15).map { sin(Double($0 + step)) }, shape: [5, 3], dtype: .float64)
            let y = Tensor(doubles: (0..<20).map { cos(Double($0 * step)) }, shape: [5, 4], dtype: .float64)
            optimizer.zeroGrad()
            (matmul(x, parameters[0]) + parameters[1] - y).square().mean().backward()
            optimizer.step()
        }
    }

    private func checkResume(_ make: ([Tensor]) -> any OptimizerProtocol, _ label: String) throws {
        let uninterrupted = makeParameters()
        let reference = make(uninterrupted)
        train(uninterrupted, reference, steps: 0..<6)

        let first = makeParameters()
        let original = make(first)
        train(first, original, steps: 0..<3)
        var saved = original.stateDict()
        // The record part goes through JSON, as a checkpoint stores it.
        saved.info = try JSONDecoder().decode(OptimizerState.Info.self, from: JSONEncoder().encode(saved.info))
        let resumed = first.map { Tensor(doubles: $0.doubles, shape: $0.shape, dtype: $0.dtype).requiringGrad() }
        let fresh = make(resumed)
        try fresh.loadStateDict(saved)
        // The first optimizer keeps training; the loaded state must not share its buffers.
        train(first, original, steps: 3..<4)
        train(resumed, fresh, steps: 3..<6)
        for (a, b) in zip(resumed, uninterrupted) {
            assertClose(a, b, atol: 0, rtol: 0, "\(label) resumed")
        }
    }

    func testResumingContinuesExactly() throws {
        try checkResume({ SGD($0, lr: 0.1, momentum: 0.9, nesterov: true) }, "SGD")
        try checkResume({ Adam($0, lr: 0.05, amsgrad: true) }, "Adam")
        try checkResume({ AdamW($0, lr: 0.05) }, "AdamW")
        try checkResume({ RMSprop($0, lr: 0.01, momentum: 0.5, centered: true) }, "RMSprop")
        try checkResume({ Adagrad($0, lr: 0.1, lrDecay: 0.01, initialAccumulatorValue: 0.1) }, "Adagrad")
    }

    func testStateDictLayout() {
        let parameters = makeParameters()
        let adam = Adam(groups: [ParameterGroup([parameters[0]], Adam.Options(lr: 0.01)),
                                 ParameterGroup([parameters[1]], Adam.Options(lr: 0.02, amsgrad: true))])
        train(parameters, adam, steps: 0..<2)
        let state = adam.stateDict()
        XCTAssertEqual(state.info.optimizer, "Adam")
        XCTAssertEqual(Set(state.tensors.keys),
                       ["state.0.exp_avg", "state.0.exp_avg_sq", "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq"])
        XCTAssertEqual(state.info.groups.map(\.shapes), [[[3, 4]], [[4]]])
        XCTAssertEqual(state.info.groups.map(\.steps), [[2], [2]])
        XCTAssertEqual(state.info.groups[1].hyperparameters["lr"], 0.02)
        XCTAssertEqual(state.info.groups[1].hyperparameters["amsgrad"], 1)
        // A snapshot: later steps do not change it.
        let before = state.tensors["state.0.exp_avg"]!.doubles
        train(parameters, adam, steps: 2..<3)
        XCTAssertEqual(state.tensors["state.0.exp_avg"]!.doubles, before)
    }

    func testLoadingRestoresTheOptions() throws {
        let parameters = makeParameters()
        let sgd = SGD(parameters, lr: 0.1, momentum: 0.9)
        sgd.learningRate = 0.003
        let other = SGD(makeParameters(), lr: 1)
        try other.loadStateDict(sgd.stateDict())
        XCTAssertEqual(other.parameterGroups[0].options, SGD.Options(lr: 0.003, momentum: 0.9))
    }

    func testMismatchedStatesAreRefused() {
        let parameters = makeParameters()
        let adam = Adam(parameters, lr: 0.01)
        train(parameters, adam, steps: 0..<1)
        let saved = adam.stateDict()

        func refusal(_ state: OptimizerState, into optimizer: any OptimizerProtocol) -> String? {
            do throws(OptimizerError) {
                try optimizer.loadStateDict(state)
                return nil
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(refusal(saved, into: SGD(makeParameters(), lr: 0.1)),
                       "loadStateDict: the state was saved by Adam, this optimizer is SGD")
        XCTAssertEqual(refusal(saved, into: Adam([makeParameters()[0]])),
                       "loadStateDict: parameter group 0 has 2 parameters in the state, 1 here")
        let twoGroups = makeParameters()
        XCTAssertEqual(refusal(saved, into: Adam(groups: [ParameterGroup([twoGroups[0]], Adam.Options()),
                                                         ParameterGroup([twoGroups[1]], Adam.Options())])),
                       "loadStateDict: the state has 1 parameter groups, this Adam has 2")
        let reshaped = [Tensor.zeros([4, 3], dtype: .float64), Tensor.zeros([4], dtype: .float64)]
        XCTAssertEqual(refusal(saved, into: Adam(reshaped)),
                       "loadStateDict: parameter 0 (group 0) has shape [4, 3], the state's has shape [3, 4]")

        var badKey = saved
        badKey.tensors["state.7.exp_avg"] = Tensor.zeros([4], dtype: .float64)
        XCTAssertEqual(refusal(badKey, into: Adam(makeParameters())),
                       "loadStateDict: unexpected state tensor 'state.7.exp_avg' (expected state.<index>.<name> with index below 2)")
        var badShape = saved
        badShape.tensors["state.1.exp_avg"] = Tensor.zeros([3], dtype: .float64)
        XCTAssertEqual(refusal(badShape, into: Adam(makeParameters())),
                       "loadStateDict: state tensor 'state.1.exp_avg' has shape [3], parameter 1 has shape [4]")
        // Each count is printed once, for what it counts.
        var steps = saved
        steps.info.groups[0].steps.removeLast()
        XCTAssertEqual(refusal(steps, into: Adam(makeParameters())),
                       "loadStateDict: parameter group 0 of the state has 1 step counts for its 2 parameters")
        steps = saved
        steps.info.groups[0].steps[0] = -3
        XCTAssertEqual(refusal(steps, into: Adam(makeParameters())), "loadStateDict: parameter group 0 of the state has a negative step count -3")
        var missing = saved
        missing.info.groups[0].hyperparameters["beta2"] = nil
        XCTAssertEqual(refusal(missing, into: Adam(makeParameters())),
                       "loadStateDict: parameter group 0: the hyperparameter 'beta2' is missing")
        var invalid = saved
        invalid.info.groups[0].hyperparameters["lr"] = -1
        XCTAssertEqual(refusal(invalid, into: Adam(makeParameters())),
                       "loadStateDict: parameter group 0: Adam: invalid learning rate -1.0 (must be >= 0)")

        // A refused load changes nothing.
        let target = Adam(makeParameters(), lr: 0.5)
        XCTAssertNotNil(refusal(badShape, into: target))
        XCTAssertTrue(target.state.isEmpty)
        XCTAssertEqual(target.learningRate, 0.5)
    }
}
