import XCTest
@testable import Ember

/// A matmul heading a fused program (`LinearEpilogue`: bias, activation and residual applied
/// as the product is written, one oneDNN matmul with post-ops in float32), the pass that
/// builds it from traced pieces however the activation is spelled, and the eager `linear`.
/// The reference is the same computation one primitive at a time. Tolerances: float32 sums
/// of 64 products of order one, and oneDNN's own tanh, GELU, logistic and swish (a few ulp).
final class CompileLinearTests: XCTestCase {
    /// x @ w (+ b) (activation) (+ residual), one operation at a time.
    func reference(_ epilogue: LinearEpilogue, _ inputs: [Tensor]) -> Tensor {
        var y = inputs[0].matmul(inputs[1])
        if epilogue.hasBias { y = y + inputs[2] }
        if let activation = epilogue.activation { y = activation.apply(y) }
        return epilogue.hasResidual ? y + inputs[inputs.count - 1] : y
    }

    func shapes(_ epilogue: LinearEpilogue, x: [Int], n: Int) -> [[Int]] {
        let out = Array(x.dropLast()) + [n]
        return [x, [x.last!, n]] + (epilogue.hasBias ? [[n]] : []) + (epilogue.hasResidual ? [out] : [])
    }

    static let epilogues: [LinearEpilogue] = {
        let activations: [LinearEpilogue.Activation?] = [nil] + LinearEpilogue.Activation.allCases
        var epilogues = [LinearEpilogue(activation: .gelu), LinearEpilogue(hasResidual: true)]
        for activation in activations {
            epilogues.append(LinearEpilogue(hasBias: true, activation: activation))
            epilogues.append(LinearEpilogue(hasBias: true, activation: activation, hasResidual: true))
        }
        return epilogues
    }()

    // MARK: The fused primitive with a matmul head

    /// Every epilogue equals its pieces: through oneDNN (a product large enough), through the
    /// small-product loop, in float64, and with a transposed weight view (a Linear layer's).
    func testEpiloguesEqualTheirPieces() {
        for (index, epilogue) in CompileLinearTests.epilogues.enumerated() {
            for (x, n, dtype) in [([2, 9, 64], 48, DType.float32), ([3, 5], 4, .float32), ([2, 9, 64], 48, .float64)] {
                let inputs = compileInputs(shapes(epilogue, x: x, n: n), dtype: dtype, seed: UInt64(100 + index))
                let program = epilogue.program(domain: Array(x.dropLast()) + [n])
                let expected = reference(epilogue, inputs)
                assertClose(Dispatch.run1(.fused(program), inputs), expected, atol: 1e-4, rtol: 1e-4, "\(epilogue) \(x) \(dtype)")
                assertClose(Fused.unfused(program, inputs)[0], expected, atol: 0, rtol: 0, "\(epilogue) unfused")
            }
            let inputs = compileInputs(shapes(epilogue, x: [7, 64], n: 96), seed: UInt64(200 + index))
            let transposed = [inputs[0], inputs[1].transposed().contiguous().transposed()] + inputs.dropFirst(2)
            assertClose(Dispatch.run1(.fused(epilogue.program(domain: [7, 96])), transposed), reference(epilogue, inputs),
                        atol: 1e-4, rtol: 1e-4, "\(epilogue), transposed weight")
        }
    }

    /// The shape rule checks the bias and residual; the derivative, forward-mode and
    /// batching rules are the pieces'.
    func testShapeRuleAndTransforms() throws {
        let epilogue = LinearEpilogue(hasBias: true, activation: .geluTanh, hasResidual: true)
        let program = epilogue.program(domain: [3, 5])
        let specs = [[3, 4], [4, 5], [5], [3, 5]].map { TensorSpec($0, .float64) }
        XCTAssertEqual(try Primitive.fused(program).outputSpecs(specs), [TensorSpec([3, 5], .float64)])
        XCTAssertThrowsError(try Primitive.fused(program).outputSpecs([specs[0], specs[1], TensorSpec([3], .float64), specs[3]]),
                             "the bias is not [5]")
        XCTAssertThrowsError(try Primitive.fused(program).outputSpecs([specs[0], specs[1], specs[2], TensorSpec([5], .float64)]),
                             "the residual is not the product's shape")
        let inputs = compileInputs(specs.map(\.shape), dtype: .float64, seed: 300)
        checkGradients({ xs in Dispatch.run1(.fused(program), xs).square().sum() }, inputs)
        let tangents = compileInputs(specs.map(\.shape), dtype: .float64, seed: 301)
        let fused = jvp({ [Dispatch.run1(.fused(program), $0)] }, primals: inputs, tangents: tangents)
        let plain = jvp({ [self.reference(epilogue, $0)] }, primals: inputs, tangents: tangents)
        assertClose(fused.tangents[0], plain.tangents[0], atol: 1e-12, rtol: 1e-12)
        let batch = compileInputs([[4, 3, 4]], seed: 302)[0]
        let f32 = inputs.map { $0.cast(to: .float32) }
        let batched = vmap({ [Dispatch.run1(.fused(program), [$0[0]] + f32.dropFirst())] }, inAxes: [0])([batch])[0]
        for i in 0..<4 {
            assertClose(batched[i], reference(epilogue, [batch[i]] + f32.dropFirst()), atol: 1e-4, rtol: 1e-4, "example \(i)")
        }
    }

    // MARK: The pass

    /// The activations as models and exporters write them: Ember's own operations, the erf
    /// GELU of a torch.onnx export (divide by √2, erf, add 1, two products), the tanh GELU
    /// with a power, SiLU as a product; one read by something else, or followed by
    /// something that is not an activation, stays apart.
    func testLinearFusionRecognizesActivationsHoweverWritten() {
        let specs = [TensorSpec([2, 8, 32], .float32), TensorSpec([32, 32], .float32), TensorSpec([32], .float32)]
        let graph = trace(specs) { xs in
            let dense = { (t: Tensor) in t.matmul(xs[1]) + xs[2] }
            let a = dense(xs[0]).gelu()                                                  // bias, gelu
            let h = xs[2] + a.matmul(xs[1])                                              // bias first, as exports write it
            let b = h * 0.5 * ((h / 2.0.squareRoot()).erf() + 1)                         // the exported erf GELU
            let c = dense(b).gelu(approximate: true) + b                                 // tanh GELU, residual
            let p = dense(c)
            let d = 0.5 * p * (1 + ((p + pow(p, 3) * 0.044715) * (2 / Double.pi).squareRoot()).tanh())   // with pow
            let e = dense(d).silu().relu()                                               // silu, then relu unfused
            let f = dense(e)
            let g = f.tanh() + f                                                         // f read twice: bias only
            let k = (dense(g) * 1.5).relu()                                              // not an activation: bias only
            return [xs[0].matmul(xs[1]) + xs[0], k]                                      // a residual without bias
        }
        let fused = LinearFusion().run(graph)
        let epilogues = fused.operations.compactMap { operation -> String? in
            guard case .fused(let program) = operation.primitive, case .matmul(let epilogue) = program.head else { return nil }
            return epilogue.description
        }
        XCTAssertEqual(epilogues, ["gelu(matmul + bias)", "gelu(matmul + bias)", "geluTanh(matmul + bias) + residual",
                                   "geluTanh(matmul + bias)", "silu(matmul + bias)", "matmul + bias", "matmul + bias",
                                   "matmul + residual"], "\(fused)")
        XCTAssertEqual(fused.count { $0 == .matmul }, 0, "\(fused)")
        let x = compileInputs(specs.map(\.shape), seed: 303).enumerated().map { $0 == 1 ? $1 * 0.2 : $1 }
        for (a, b) in zip(fused(x), graph(x)) { assertClose(a, b, atol: 1e-4, rtol: 1e-4) }
    }

    /// In a compiled training step the backward pass reads the product and the pre-activation,
    /// so only what nothing else reads is fused, and the gradients equal eager ones.
    func testCompiledTrainingStepMatchesEager() {
        let inputs = compileInputs([[6, 32], [32, 48], [48], [48, 8]], seed: 304)
        let loss = { (p: [Tensor]) -> Tensor in (linear(inputs[0], p[0], bias: p[1], activation: .gelu).matmul(p[2])).square().mean() }
        let step = compile(valueAndGrad(loss))
        let parameters = Array(inputs.dropFirst())
        let (value, grads) = step(parameters)
        let (expectedValue, expectedGrads) = valueAndGrad(loss)(parameters)
        assertClose(value, expectedValue, atol: 1e-5, rtol: 1e-5)
        for (g, e) in zip(grads, expectedGrads) { assertClose(g, e, atol: 1e-5, rtol: 1e-4) }
    }

    /// Compiled inference fuses: one operation per dense layer, the values of eager; vmap and
    /// jvp of the compiled function see through the fused operation.
    func testCompiledMLPFusesEachLayer() {
        let w = compileInputs([[32, 64], [64], [64, 64], [64]], seed: 305).enumerated().map { $0 % 2 == 0 ? $1 * 0.15 : $1 }
        let mlp = { (xs: [Tensor]) -> [Tensor] in
            let h = linear(xs[0], w[0], bias: w[1], activation: .relu)
            return [(linear(h, w[2], bias: w[3]).sigmoid() + h)]
        }
        let compiled = compile(mlp, options: .inference)
        let x = compileInputs([[5, 4, 32]], seed: 306)
        let graph = compiled.graph(for: x)
        XCTAssertEqual(graph.fusedCount, 2, "\(graph)")
        XCTAssertEqual(graph.count { $0 == .matmul }, 0, "\(graph)")
        assertClose(compiled(x)[0], mlp(x)[0], atol: 1e-4, rtol: 1e-4)
        assertClose(compiled(x)[0], mlp(x)[0], atol: 1e-4, rtol: 1e-4, "the kept weight conversion")
        let batched = vmap({ compiled($0) }, inAxes: [0])(x)[0]
        for i in 0..<5 { assertClose(batched[i], mlp([x[0][i]])[0], atol: 1e-4, rtol: 1e-4) }
        let t = compileInputs([[5, 4, 32]], seed: 307)
        let fusedTangent = jvp({ compiled($0) }, primals: x, tangents: t).tangents[0]
        assertClose(fusedTangent, jvp(mlp, primals: x, tangents: t).tangents[0], atol: 1e-4, rtol: 1e-4)
    }

    // MARK: Eager

    /// Eager `linear` (and the Linear layer) runs the fused primitive where no gradient is
    /// recorded, and the pieces under a tape: both give the formula's values and gradients.
    func testEagerLinearMatchesThePiecesWithAndWithoutGradients() {
        let inputs = compileInputs([[4, 7, 64], [64, 40], [40]], seed: 308)
        for activation in [nil] + LinearEpilogue.Activation.allCases as [LinearEpilogue.Activation?] {
            let epilogue = LinearEpilogue(hasBias: true, activation: activation)
            XCTAssertTrue(LinearEpilogue.fusesEagerly(inputs))
            assertClose(linear(inputs[0], inputs[1], bias: inputs[2], activation: activation), reference(epilogue, inputs),
                        atol: 1e-4, rtol: 1e-4, "\(epilogue)")
        }
        let w = inputs[1].requiringGrad()
        XCTAssertFalse(LinearEpilogue.fusesEagerly([inputs[0], w]))
        XCTAssertTrue(noGrad { LinearEpilogue.fusesEagerly([inputs[0], w]) })
        let g = grad { (w: Tensor) in linear(inputs[0], w, bias: inputs[2], activation: .silu).square().sum() }(inputs[1])
        let e = grad { (w: Tensor) in (inputs[0].matmul(w) + inputs[2]).silu().square().sum() }(inputs[1])
        assertClose(g, e, atol: 1e-3, rtol: 1e-4)
    }
}
