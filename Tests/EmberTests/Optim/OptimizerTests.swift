import XCTest
import Ember
@testable import EmberOptim

/// Each optimizer against torch.optim (Fixtures/generate_optim.py): 5 steps over w [3, 4]
/// and b [4] with fixed gradients, the parameters compared after every step. float64 cases
/// are held to 1e-12 (only rounding differs); float32 ones to 1e-6.
final class OptimizerTests: XCTestCase {
    func testSGDAgainstPyTorch() throws {
        try replay("sgd") { SGD($0, lr: 0.1) }
        try replay("sgd_momentum") { SGD($0, lr: 0.1, momentum: 0.9) }
        try replay("sgd_dampening_wd") { SGD($0, lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01) }
        try replay("sgd_nesterov_wd_maximize") {
            SGD($0, lr: 0.1, momentum: 0.8, weightDecay: 0.1, nesterov: true, maximize: true)
        }
        try replay("sgd_nesterov_f32") { SGD($0, lr: 0.1, momentum: 0.9, nesterov: true) }
    }

    func testAdamAgainstPyTorch() throws {
        try replay("adam") { Adam($0, lr: 0.01) }
        try replay("adam_wd_amsgrad") { Adam($0, lr: 0.02, betas: (0.8, 0.99), eps: 1e-6, weightDecay: 0.1, amsgrad: true) }
        try replay("adam_maximize") { Adam($0, lr: 0.01, maximize: true) }
        try replay("adam_f32") { Adam($0, lr: 0.01) }
    }

    func testAdamWAgainstPyTorch() throws {
        try replay("adamw") { AdamW($0, lr: 0.01, weightDecay: 0.1) }
        try replay("adamw_amsgrad") { AdamW($0, lr: 0.03, betas: (0.85, 0.95), weightDecay: 0.5, amsgrad: true) }
        // AdamW decouples the decay of groups built from plain Adam options too.
        try replay("adamw") { AdamW(groups: [ParameterGroup($0, Adam.Options(lr: 0.01, weightDecay: 0.1))]) }
    }

    func testRMSpropAgainstPyTorch() throws {
        try replay("rmsprop") { RMSprop($0, lr: 0.01) }
        try replay("rmsprop_momentum") { RMSprop($0, lr: 0.01, alpha: 0.95, momentum: 0.5) }
        try replay("rmsprop_centered_momentum_wd") {
            RMSprop($0, lr: 0.01, alpha: 0.9, eps: 1e-6, weightDecay: 0.05, momentum: 0.8, centered: true)
        }
    }

    func testAdagradAgainstPyTorch() throws {
        try replay("adagrad") { Adagrad($0, lr: 0.1) }
        try replay("adagrad_decay_wd_initial") {
            Adagrad($0, lr: 0.1, lrDecay: 0.1, weightDecay: 0.05, initialAccumulatorValue: 0.5, eps: 1e-6)
        }
    }

    func testParameterGroupsWithTheirOwnSettings() throws {
        try replay("sgd_groups") { p in
            SGD(groups: [ParameterGroup([p[0]], SGD.Options(lr: 0.1, momentum: 0.9, weightDecay: 0.1)),
                         ParameterGroup([p[1]], SGD.Options(lr: 0.01, momentum: 0.9, nesterov: true))])
        }
        try replay("adam_groups") { p in
            Adam(groups: [ParameterGroup([p[0]], Adam.Options(lr: 0.01, weightDecay: 0.2, amsgrad: true)),
                          ParameterGroup([p[1]], Adam.Options(lr: 0.05, betas: (0.5, 0.9)))])
        }
    }

    /// b has no gradient at steps 1 and 2: it is skipped and its step count (Adam's bias
    /// correction) does not advance.
    func testParametersWithoutGradientAreSkipped() throws {
        var optimizer: Adam?
        try replay("adam_skip") { p in
            optimizer = Adam(p, lr: 0.01)
            return optimizer!
        }
        let b = optimizer!.parameterGroups[0].parameters[1]
        XCTAssertEqual(optimizer!.state[ObjectIdentifier(b)]?.step, 3)
    }

    func testLearningRatePerGroup() {
        let a = Tensor([1, 2] as [Float]), b = Tensor([3] as [Float])
        let sgd = SGD(groups: [ParameterGroup([a], SGD.Options(lr: 0.1)), ParameterGroup([b], SGD.Options(lr: 0.2))])
        XCTAssertEqual(sgd.learningRates, [0.1, 0.2])
        sgd.learningRates = [0.5, 0.25]
        XCTAssertEqual(sgd.parameterGroups[1].options.lr, 0.25)
        sgd.learningRate = 0.01
        XCTAssertEqual(sgd.learningRates, [0.01, 0.01])
        XCTAssertEqual(sgd.learningRate, 0.01)
        // A zero learning rate leaves the parameters where they are.
        sgd.learningRate = 0
        a.grad = Tensor([1, 1] as [Float])
        sgd.step()
        XCTAssertEqual(a.floats, [1, 2])
    }

    func testZeroGrad() {
        let a = Tensor([1, 2] as [Float]).requiringGrad()
        let seed = Tensor([3, 4] as [Float])
        (a * 2).backward(seed)
        let sgd = SGD([a], lr: 0.1)
        sgd.zeroGrad(setToNone: false)
        XCTAssertEqual(a.grad?.floats, [0, 0])
        XCTAssertEqual(seed.floats, [3, 4])
        sgd.zeroGrad()
        XCTAssertNil(a.grad)
    }

    func testInvalidSettingsNameTheProblem() {
        func message(_ options: some OptimizerOptions) -> String? {
            do throws(OptimizerError) {
                try options.validate()
                return nil
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(message(SGD.Options(lr: -0.1)), "SGD: invalid learning rate -0.1 (must be >= 0)")
        XCTAssertEqual(message(SGD.Options(lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)),
                       "SGD: Nesterov momentum needs momentum > 0 and zero dampening (got momentum 0.9, dampening 0.1)")
        XCTAssertEqual(message(Adam.Options(betas: (0.9, 1.0))), "Adam: invalid beta2 1.0 (must be in [0, 1))")
        XCTAssertEqual(message(Adam.Options(eps: -1)), "Adam: invalid eps -1.0 (must be >= 0)")
        XCTAssertEqual(message(RMSprop.Options(alpha: -0.5)), "RMSprop: invalid alpha -0.5 (must be >= 0)")
        XCTAssertEqual(message(Adagrad.Options(lrDecay: -1)), "Adagrad: invalid lr decay -1.0 (must be >= 0)")
        XCTAssertNil(message(Adagrad.Options()))
    }
}

/// Runs the fixture case `name`: the optimizer made by `make([w, b])` steps with the
/// recorded gradients (a NaN row of g_b: no gradient for b at that step), and the
/// parameters must follow PyTorch's after every step.
func replay(_ name: String, file: StaticString = #filePath, line: UInt = #line,
            _ make: ([Tensor]) -> any OptimizerProtocol) throws {
    let fixtures = try Fixtures("optim")
    let w = fixtures.tensor(name, "w"), b = fixtures.tensor(name, "b")
    let gradients = [fixtures.tensor(name, "g_w"), fixtures.tensor(name, "g_b")]
    let expected = [fixtures.tensor(name, "w_steps"), fixtures.tensor(name, "b_steps")]
    let tolerance = w.dtype == .float64 ? 1e-12 : 1e-6
    let optimizer = make([w, b])
    for step in 0..<gradients[0].shape[0] {
        for (parameter, g) in zip([w, b], gradients) {
            let row = g[step]
            parameter.grad = row.doubles.contains(where: \.isNaN) ? nil : row
        }
        optimizer.step()
        for (k, parameter) in [w, b].enumerated() {
            assertClose(parameter, expected[k][step], atol: tolerance, rtol: tolerance,
                        "\(name): parameter \(k) after step \(step + 1)", file: file, line: line)
        }
    }
}
