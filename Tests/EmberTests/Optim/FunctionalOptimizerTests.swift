import XCTest
import Ember
import EmberNN
import EmberOptim

/// The functional (Optax-style) optimizers and a pure, compiled training step.
final class FunctionalOptimizerTests: XCTestCase {
    private func makeModel() -> Sequential {
        manualSeed(7)
        return Sequential(Linear(4, 8, dtype: .float64), Tanh(), Linear(8, 3, dtype: .float64))
    }

    private let x = Tensor.randomNormal([16, 4], dtype: .float64, source: .key(Key(1)))
    private let y = Tensor.randomIntegers([16], high: 3, source: .key(Key(2)))

    private func loss(_ model: Sequential, _ params: TensorTree, _ x: Tensor, _ y: Tensor) -> Tensor {
        model.applying(params) { crossEntropy(logits: model(x), labels: y) }
    }

    /// Five functional steps give the parameters that five steps of the object-style
    /// optimizer (itself checked against torch.optim) give.
    private func checkAgainstObjectOptimizer(_ transformation: GradientTransformation,
                                             _ makeOptimizer: ([Tensor]) -> any OptimizerProtocol,
                                             file: StaticString = #filePath, line: UInt = #line) {
        let functionalModel = makeModel(), objectModel = makeModel()
        var params = functionalModel.parameterTree().map { $0.detached() }
        var state = transformation.initialize(params)
        for _ in 0..<5 {
            let grads = grad { self.loss(functionalModel, $0, self.x, self.y) }(params)
            let (updates, newState) = transformation.update(grads, state, params)
            params = applyUpdates(params, updates)
            state = newState
        }
        let optimizer = makeOptimizer(objectModel.parameters())
        for _ in 0..<5 {
            optimizer.zeroGrad()
            crossEntropy(logits: objectModel(x), labels: y).backward()
            optimizer.step()
        }
        for (name, parameter) in objectModel.namedParameters() {
            assertClose(params.flat[name]!, parameter, atol: 1e-12, rtol: 1e-10, name, file: file, line: line)
        }
    }

    func testSGDWithMomentumMatchesTheObjectOptimizer() {
        checkAgainstObjectOptimizer(sgd(learningRate: 0.1, momentum: 0.9)) { SGD($0, lr: 0.1, momentum: 0.9) }
        checkAgainstObjectOptimizer(sgd(learningRate: 0.1, momentum: 0.9, nesterov: true)) {
            SGD($0, lr: 0.1, momentum: 0.9, nesterov: true)
        }
        checkAgainstObjectOptimizer(sgd(learningRate: 0.1)) { SGD($0, lr: 0.1) }
    }

    func testAdamAndAdamWMatchTheObjectOptimizers() {
        checkAgainstObjectOptimizer(adam(learningRate: 0.01)) { Adam($0, lr: 0.01) }
        checkAgainstObjectOptimizer(adamW(learningRate: 0.01, weightDecay: 0.1)) { AdamW($0, lr: 0.01, weightDecay: 0.1) }
    }

    /// `(params, state, batch) -> (params, state, loss)` as one compiled function: the same
    /// numbers as the eager step, traced once for all steps.
    func testCompiledPureTrainingStepEqualsEager() {
        let model = makeModel()
        let transformation = adam(learningRate: 0.01)
        let initial = model.parameterTree().map { $0.detached() }
        let initialState = transformation.initialize(initial)
        let parameterCount = initial.leaves.count, stateCount = initialState.leaves.count

        func step(_ params: TensorTree, _ state: TensorTree, _ x: Tensor, _ y: Tensor) -> (TensorTree, TensorTree, Tensor) {
            let (value, grads) = valueAndGrad { self.loss(model, $0, x, y) }(params)
            let (updates, newState) = transformation.update(grads, state, params)
            return (applyUpdates(params, updates), newState, value)
        }
        let compiled = compile { (inputs: [Tensor]) -> [Tensor] in
            let params = initial.replacingLeaves(Array(inputs[0..<parameterCount]))
            let state = initialState.replacingLeaves(Array(inputs[parameterCount..<(parameterCount + stateCount)]))
            let (newParams, newState, value) = step(params, state, inputs[inputs.count - 2], inputs[inputs.count - 1])
            return newParams.leaves + newState.leaves + [value]
        }

        var eager = (initial, initialState), fast = (initial, initialState)
        for _ in 0..<5 {
            let (p, s, eagerLoss) = step(eager.0, eager.1, x, y)
            eager = (p, s)
            let outputs = compiled(fast.0.leaves + fast.1.leaves + [x, y])
            fast = (initial.replacingLeaves(Array(outputs[0..<parameterCount])),
                    initialState.replacingLeaves(Array(outputs[parameterCount..<(parameterCount + stateCount)])))
            XCTAssertEqual(outputs.last!.item(), eagerLoss.item(), accuracy: 1e-12)
        }
        for (a, b) in zip(fast.0.leaves, eager.0.leaves) { assertClose(a, b, atol: 1e-12, rtol: 1e-10) }
        for (a, b) in zip(fast.1.leaves, eager.1.leaves) { assertClose(a, b, atol: 1e-12, rtol: 1e-10) }
        XCTAssertEqual(compiled.traceCount, 1, "one trace serves every step")
    }

    /// Dropout with an explicit key inside a compiled function: a new key gives a new mask,
    /// the same key the eager mask.
    func testDropoutWithKeysUnderCompile() {
        let compiled = compile { (inputs: [Tensor]) -> [Tensor] in [dropout(inputs[0], probability: 0.5, key: inputs[1])] }
        let x = Tensor.ones([64])
        let keys = Tensor.randomKey(3).splitKey(into: 2)
        let first = compiled([x, keys[0]])[0], second = compiled([x, keys[1]])[0]
        XCTAssertEqual(first.floats, dropout(x, probability: 0.5, key: keys[0]).floats)
        XCTAssertNotEqual(first.floats, second.floats)
        XCTAssertTrue(first.floats.allSatisfy { $0 == 0 || $0 == 2 })
        XCTAssertEqual(compiled.traceCount, 1)
    }
}
