import XCTest
@testable import Ember

/// `compile` end to end: compiled functions against the same functions run eagerly on
/// random inputs, tracing once per signature, captured tensors read by reference,
/// gradients through compiled code and compiled training steps. Tolerances: fusion
/// evaluates exp, tanh, erf with the vector functions and sums in another order, so
/// float32 results agree to a few ulp of the values involved.
final class CompileTests: XCTestCase {
    func assertCompiledMatchesEager(_ compiled: CompiledFunction, _ eager: ([Tensor]) -> [Tensor], _ inputs: [Tensor],
                                    atol: Double = 1e-5, rtol: Double = 1e-5, _ message: String = "",
                                    file: StaticString = #filePath, line: UInt = #line) {
        let results = compiled(inputs), expected = eager(inputs)
        XCTAssertEqual(results.count, expected.count, file: file, line: line)
        for (r, e) in zip(results, expected) { assertClose(r, e, atol: atol, rtol: rtol, message, file: file, line: line) }
    }

    struct MLP {
        let w1 = Tensor.randomNormal([16, 32], std: 0.25, source: .key(Key(1)))
        let b1 = Tensor.randomNormal([32], source: .key(Key(2)))
        let w2 = Tensor.randomNormal([32, 10], std: 0.2, source: .key(Key(3)))
        let b2 = Tensor.randomNormal([10], source: .key(Key(4)))
        func callAsFunction(_ x: Tensor) -> Tensor {
            matmul((matmul(x, w1) + b1).gelu(), w2) + b2
        }
    }

    /// An MLP with captured weights: one trace per signature, a retrace for a new batch size.
    func testMLPAndCachingPerSignature() {
        let model = MLP()
        let eager = { (xs: [Tensor]) in [model(xs[0]).softmax(axis: -1)] }
        let compiled = compile(eager)
        assertCompiledMatchesEager(compiled, eager, compileInputs([[8, 16]], seed: 5))
        assertCompiledMatchesEager(compiled, eager, compileInputs([[8, 16]], seed: 6))
        XCTAssertEqual(compiled.traceCount, 1, "a second call with the same signature does not retrace")
        assertCompiledMatchesEager(compiled, eager, compileInputs([[3, 16]], seed: 7))
        XCTAssertEqual(compiled.traceCount, 2, "a new shape retraces")
        assertCompiledMatchesEager(compiled, eager, compileInputs([[3, 16]], dtype: .float64, seed: 8), atol: 1e-12, rtol: 1e-12)
        XCTAssertEqual(compiled.traceCount, 3, "a new dtype retraces")
        let graph = compiled.graph(for: compileInputs([[8, 16]], seed: 5))
        XCTAssertLessThan(graph.kernelCount, trace([TensorSpec([8, 16], .float32)], eager).kernelCount)
    }

    /// A weight updated in place (as an optimizer does) is seen by the next call.
    func testCapturedTensorsAreReadByReference() {
        let w = Tensor([1, 2, 3] as [Float])
        let compiled = compile { (x: Tensor) in (x * w + 1).exp() }
        let x = Tensor([0.5, -1, 0.25] as [Float])
        assertClose(compiled(x), (x * w + 1).exp())
        w.assign(Tensor([-1, 0, 4] as [Float]))
        assertClose(compiled(x), (x * w + 1).exp(), "the update must be seen")
        XCTAssertEqual(compiled.traceCount, 1)
    }

    /// With foldConstants the captured values are fixed at compile time (documented).
    func testFoldedConstantsAreSnapshots() {
        let w = Tensor([1, 2, 3] as [Float])
        let compiled = compile({ (x: Tensor) in x * w.exp() }, options: CompileOptions(foldConstants: true))
        let x = Tensor([1, 1, 1] as [Float])
        let before = compiled(x).floats
        w.assign(Tensor([0, 0, 0] as [Float]))
        XCTAssertEqual(compiled(x).floats, before)
        XCTAssertEqual(compiled.graph(for: [x]).operations.map(\.primitive), [.binary(.mul)], "exp(w) was folded")
    }

    /// Softmax, GELU (exact and tanh) and layer-norm chains: fewer kernels, same values.
    func testElementwiseAndNormalizationChains() {
        let functions: [(String, ([Tensor]) -> [Tensor])] = [
            ("softmax", { xs in [xs[0].softmax(axis: -1), xs[0].logSoftmax(axis: 0)] }),
            ("gelu", { xs in [xs[0].gelu(), xs[0].gelu(approximate: true) * xs[1]] }),
            ("layer norm", { xs in [layerNorm(xs[0] * xs[1] + 1, normalizedShape: [40], weight: xs[1], bias: xs[1].sin())] }),
            ("clamp and leaky relu", { xs in [xs[0].clamp(min: -0.5, max: 0.5) * xs[0].leakyRelu(negativeSlope: 0.1).sigmoid()] }),
            ("manual layer norm", { xs in
                let centered = xs[0] - xs[0].mean(axis: -1, keepDims: true)
                return [centered * (centered.square().mean(axis: -1, keepDims: true) + 1e-5).rsqrt()]
            }),
        ]
        for (name, f) in functions {
            let compiled = compile(f)
            let inputs = compileInputs([[24, 40], [40]], seed: 9)
            assertCompiledMatchesEager(compiled, f, inputs, atol: 1e-5, rtol: 1e-4, name)
            let before = trace(like: inputs, f).kernelCount, after = compiled.graph(for: inputs).kernelCount
            XCTAssertLessThan(after, before, "\(name): \(compiled.report(for: inputs))")
        }
    }

    /// A conv + eval-mode batch norm + relu network compiled for inference: batch norm is
    /// folded into the convolutions, the relu runs as the first one writes its result, and
    /// two fused kernels are all that is left beside them.
    func testConvBatchNormInferenceNet() {
        let keys = Key(10).split(into: 10)
        func bn(_ c: Int, _ k: Int) -> (Tensor, Tensor, Tensor, Tensor) {
            (Tensor.randomNormal([c], source: .key(keys[k])), Tensor.randomUniform([c], low: 0.5, high: 1.5, source: .key(keys[k + 1])),
             Tensor.randomNormal([c], source: .key(keys[k + 2])), Tensor.randomNormal([c], source: .key(keys[k + 3])))
        }
        let w1 = Tensor.randomNormal([8, 3, 3, 3], std: 0.3, source: .key(keys[0]))
        let w2 = Tensor.randomNormal([8, 8, 3, 3], std: 0.2, source: .key(keys[1]))
        let (m1, v1, g1, b1) = bn(8, 2), (m2, v2, g2, b2) = bn(8, 6)
        let net = { (xs: [Tensor]) -> [Tensor] in
            var y = conv2d(xs[0], weight: w1, padding: 1)
            y = batchNorm(y, runningMean: m1, runningVariance: v1, weight: g1, bias: b1, training: false).output.relu()
            y = conv2d(y, weight: w2, stride: 2, padding: 1)
            y = batchNorm(y, runningMean: m2, runningVariance: v2, weight: g2, bias: b2, training: false).output
            return [(y + y.sigmoid()).mean(axes: [2, 3])]
        }
        let compiled = compile(net, options: .inference)
        let x = compileInputs([[2, 3, 12, 12]], seed: 11)
        assertCompiledMatchesEager(compiled, net, x, atol: 1e-4, rtol: 1e-4)
        let graph = compiled.graph(for: x)
        let names = graph.operations.map(\.primitive.name)
        let headed = graph.operations.compactMap { operation -> FusedProgram? in
            guard case .fused(let program) = operation.primitive, program.head != nil else { return nil }
            return program
        }
        XCTAssertEqual(names.filter { $0.hasPrefix("conv2d") }.count, 1)
        XCTAssertEqual(headed.map(\.unaryChain), [[.relu]], "the first convolution applies the relu: \(graph)")
        XCTAssertFalse(names.contains { ["sub", "mul", "add", "rsqrt", "relu"].contains($0) }, "batch norm left no operation: \(graph)")
        XCTAssertEqual(graph.kernelCount, 4, "conv + relu, conv, the fused sigmoid-add-sum and the division by n: \(graph)")
    }

    /// grad through a compiled function: the replay is recorded on the tape, and the fused
    /// operations differentiate their unfused programs.
    func testGradientThroughCompiledFunction() {
        let f = { (x: Tensor) in ((x * x).tanh() * x.exp()).sum(axis: 1) }
        let compiled = compile(f)
        let x = compileInputs([[3, 4]], dtype: .float64, seed: 12)[0]
        XCTAssertEqual(compiled.graph(for: [x]).fusedCount, 1)
        assertClose(grad { (t: Tensor) in compiled(t).sum() }(x), grad { (t: Tensor) in f(t).sum() }(x), atol: 1e-12, rtol: 1e-10)
        checkGradients({ xs in compiled(xs[0]).square().sum() }, [x])
        // backward() into a captured weight that requires grad.
        let w = Tensor.randomNormal([4], dtype: .float64, source: .key(Key(13))).requiringGrad()
        let g = compile { (t: Tensor) in (t * w).sigmoid().sum() }
        g(x).backward()
        let expected = grad { (v: Tensor) in (x * v).sigmoid().sum() }(w.detached())
        assertClose(w.grad!, expected, atol: 1e-12, rtol: 1e-10)
    }

    /// compile(valueAndGrad(loss)): the traced backward pass is optimized with the forward
    /// one; value and gradients match the eager step.
    func testCompiledTrainingStep() {
        let keys = Key(14).split(into: 4)
        let data = Tensor.randomNormal([32, 20], source: .key(keys[0])), target = Tensor.randomNormal([32, 5], source: .key(keys[1]))
        let loss = { (ps: [Tensor]) -> Tensor in
            let hidden = layerNorm((matmul(data, ps[0]) + ps[1]).gelu(), normalizedShape: [16])
            return (matmul(hidden, ps[2]) - target).square().mean()
        }
        let step = compile(valueAndGrad(loss))
        let parameters = [Tensor.randomNormal([20, 16], std: 0.2, source: .key(keys[2])), Tensor.zeros([16]),
                          Tensor.randomNormal([16, 5], std: 0.2, source: .key(keys[3]))]
        let (value, grads) = step(parameters)
        let (expectedValue, expectedGrads) = valueAndGrad(loss)(parameters)
        assertClose(value, expectedValue, atol: 1e-5, rtol: 1e-5)
        for (g, e) in zip(grads, expectedGrads) { assertClose(g, e, atol: 1e-5, rtol: 1e-4) }
        let traced = trace(like: parameters) { xs in let r = valueAndGrad(loss)(xs); return [r.value] + r.grads }
        let optimized = step.function.graph(for: parameters)
        XCTAssertGreaterThan(optimized.fusedCount, 1)
        XCTAssertLessThan(optimized.kernelCount, traced.kernelCount * 2 / 3, step.function.report(for: parameters))
    }

    /// A compiled function called while an outer function is traced records its optimized
    /// graph into the outer one.
    func testCompiledFunctionInsideATrace() {
        let compiled = compile { (x: Tensor) in (x.exp() + 1).log() }
        let outer = trace([TensorSpec([6], .float32)]) { xs in [compiled(xs[0]) * 2] }
        XCTAssertEqual(outer.fusedCount, 1)
        let x = compileInputs([[6]], seed: 15)[0]
        assertClose(outer([x])[0], (x.exp() + 1).log() * 2)
    }

    /// The report shows the traced and the optimized graph and what each pass left.
    func testReportShowsBeforeAndAfter() {
        let compiled = compile { (x: Tensor) in (x * 2).exp().sum() }
        let report = compiled.report(for: [Tensor.zeros([3])])
        for part in ["before:", "after:", "elementwise fusion:", "fused[3]{", "memory plan:"] {
            XCTAssertTrue(report.contains(part), "missing \(part) in\n\(report)")
        }
    }
}
