import XCTest
@testable import Ember

/// batchNorm and layerNorm: values, gradients and running statistics against PyTorch
/// (Fixtures/generate_nn.py), finite differences of the fused first-order kernels and of
/// the differentiable formula used for higher orders, float32 against float64, shape errors.
final class NormalizationTests: XCTestCase {
    func testBatchNormTrainingAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        let name = "batch_norm_train"
        let runningMean = fixtures.tensor(name, "running_mean"), runningVariance = fixtures.tensor(name, "running_var")
        func normalize(_ t: [Tensor?]) -> BatchNormResult {
            batchNorm(t[0]!, runningMean: runningMean, runningVariance: runningVariance, weight: t[1], bias: t[2],
                      training: true, momentum: 0.1, epsilon: 1e-5)
        }
        fixtures.checkCase(name, inputs: 3) { normalize($0).output }
        // The running variance is updated with the unbiased batch variance.
        let result = normalize([0, 1, 2].map { fixtures.tensor(name, "x\($0)").cast(to: .float64) })
        XCTAssertEqual(result.runningMean?.dtype, .float32)
        assertClose(result.runningMean!, fixtures.tensor(name, "updated_mean"), atol: 1e-6, rtol: 1e-6)
        assertClose(result.runningVariance!, fixtures.tensor(name, "updated_var"), atol: 1e-6, rtol: 1e-6)
        XCTAssertFalse(result.runningMean!.requiresGrad)

        fixtures.checkCase("batch_norm_2d", inputs: 1) {
            let r = batchNorm($0[0]!, runningMean: nil, runningVariance: nil, training: true, epsilon: 1e-3)
            XCTAssertNil(r.runningMean)
            return r.output
        }
    }

    func testBatchNormInferenceAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        let name = "batch_norm_eval"
        let runningMean = fixtures.tensor(name, "running_mean"), runningVariance = fixtures.tensor(name, "running_var")
        fixtures.checkCase(name, inputs: 3) {
            let r = batchNorm($0[0]!, runningMean: runningMean, runningVariance: runningVariance, weight: $0[1], bias: $0[2],
                              training: false, epsilon: 1e-5)
            XCTAssert(r.runningMean === runningMean && r.runningVariance === runningVariance)
            return r.output
        }
    }

    func testLayerNormAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        fixtures.checkCase("layer_norm", inputs: 3) { layerNorm($0[0]!, normalizedShape: [4, 5], weight: $0[1], bias: $0[2]) }
        fixtures.checkCase("layer_norm_last", inputs: 1) { layerNorm($0[0]!, normalizedShape: [6], epsilon: 1e-3) }
    }

    func testSecondDerivativesAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        fixtures.checkSecondOrder("batch_norm_second_order", inputs: 3, wrt: [0, 1, 2]) {
            batchNorm($0[0], runningMean: nil, runningVariance: nil, weight: $0[1], bias: $0[2], training: true).output
        }
        fixtures.checkSecondOrder("layer_norm_second_order", inputs: 3, wrt: [0, 1, 2]) {
            layerNorm($0[0], normalizedShape: [3, 4], weight: $0[1], bias: $0[2])
        }
    }

    static let functions: [(name: String, shape: [Int], parameterShape: [Int], f: ([Tensor]) -> Tensor)] = [
        ("batchNorm", [3, 4, 2, 3], [4], { t in
            batchNorm(t[0], runningMean: nil, runningVariance: nil, weight: t[1], bias: t[2], training: true).output
        }),
        ("layerNorm", [2, 3, 4, 3], [4, 3], { t in layerNorm(t[0], normalizedShape: [4, 3], weight: t[1], bias: t[2]) }),
        ("layerNorm over every axis", [3, 5], [3, 5], { t in layerNorm(t[0], normalizedShape: [3, 5], weight: t[1], bias: t[2]) }),
    ]

    /// First order: the fused backward kernels.
    func testGradientsMatchFiniteDifferences() {
        for (_, shape, parameterShape, f) in Self.functions {
            let inputs = [randomDoubles(shape, seed: 30), randomDoubles(parameterShape, seed: 31), randomDoubles(parameterShape, seed: 32)]
            let r = randomDoubles(shape, seed: 33)
            checkGradients({ (f($0) * r).sum() }, inputs, atol: 1e-6, rtol: 1e-5)
        }
    }

    /// While recording, the derivative rule is a formula in tensor operations; it must agree
    /// with the fused kernels, and its own gradient with finite differences.
    func testDifferentiableFormulaMatchesFusedKernelsAndFiniteDifferences() {
        for (name, shape, parameterShape, f) in Self.functions {
            let inputs = [randomDoubles(shape, seed: 34), randomDoubles(parameterShape, seed: 35), randomDoubles(parameterShape, seed: 36)]
            let gy = randomDoubles(shape, seed: 37)
            for dtype in [DType.float64, .float32] {
                let typed = inputs.map { $0.cast(to: dtype).detached().requiringGrad() }
                let y = f(typed)
                let fused = gradients(of: [y], withRespectTo: typed, gradOutputs: [gy.cast(to: dtype)])
                let formula = gradients(of: [y], withRespectTo: typed, gradOutputs: [gy.cast(to: dtype)], createGraph: true)
                for (a, b) in zip(formula, fused) { assertClose(a, b, atol: 1e-5, rtol: 1e-5, "\(name) \(dtype)") }
            }
            let v = randomDoubles(shape, seed: 38), u = randomDoubles(parameterShape, seed: 39)
            checkGradients({ t in
                let g = grad { (p: [Tensor]) in (f(p) * t[3]).sum() }(Array(t[..<3]))
                return (g[0] * v).sum() + (g[1] * u).sum()
            }, inputs + [gy], atol: 1e-6, rtol: 1e-5)
        }
    }

    /// Larger inputs (oneDNN's layer norm in float32; batch norm runs the same loops in both
    /// dtypes); float32 rounding of statistics over a few hundred values.
    func testFloat32MatchesFloat64() {
        let cases: [(shape: [Int], parameterShape: [Int], f: ([Tensor]) -> Tensor)] = [
            ([8, 16, 7, 5], [16], { t in
                batchNorm(t[0], runningMean: nil, runningVariance: nil, weight: t[1], bias: t[2], training: true).output
            }),
            ([6, 10, 48], [48], { t in layerNorm(t[0], normalizedShape: [48], weight: t[1], bias: t[2]) }),
        ]
        for (shape, parameterShape, f) in cases {
            let inputs = [randomDoubles(shape, seed: 40) * 3 + 1, randomDoubles(parameterShape, seed: 41), randomDoubles(parameterShape, seed: 42)]
            let (y, pullback) = vjp(f, inputs)
            let gy = randomDoubles(shape, seed: 43)
            let (y32, pullback32) = vjp(f, inputs.map { $0.cast(to: .float32) })
            assertClose(y32, y, atol: 1e-4, rtol: 1e-4)
            for (g32, g) in zip(pullback32(gy.cast(to: .float32)), pullback(gy)) {
                assertClose(g32, g, atol: 1e-4, rtol: 1e-4)
            }
        }
    }

    func testStridedInputsMatchDenseOnes() {
        for dtype in [DType.float64, .float32] {
            for (name, shape, parameterShape, f) in Self.functions {
                let inputs = [randomDoubles(shape, seed: 44), randomDoubles(parameterShape, seed: 45), randomDoubles(parameterShape, seed: 46)]
                    .map { $0.cast(to: dtype) }
                let strided = [transposedLayout(inputs[0]), inputs[1], inputs[2]]
                let gy = randomDoubles(shape, seed: 47).cast(to: dtype)
                assertClose(f(strided), f(inputs), atol: 1e-6, "\(name) \(dtype)")
                let dense = vjp(f, inputs).pullback(gy)
                for (s, d) in zip(vjp(f, strided).pullback(transposedLayout(gy)), dense) {
                    assertClose(s, d, atol: 1e-5, "\(name) \(dtype)")
                }
            }
        }
    }

    func testShapeErrorsNameTheOperationAndShapes() {
        let f32 = { (shape: [Int]) in TensorSpec(shape, .float32) }
        assertShapeError(.batchNorm(epsilon: 1e-5), [f32([4]), f32([4]), f32([4])], mentions: ["batch_norm", "[N, C, ...]", "[4]"])
        assertShapeError(.batchNorm(epsilon: 1e-5), [f32([2, 3, 4]), f32([4]), f32([3])],
                         mentions: ["batch_norm", "weight must have shape [3]", "[2, 3, 4]", "got [4]"])
        assertShapeError(.batchNorm(epsilon: 1e-5), [f32([0, 3]), f32([3]), f32([3])], mentions: ["batch_norm", "one value per channel", "[0, 3]"])
        assertShapeError(.batchNormBackward(epsilon: 1e-5), [f32([2, 3]), f32([2, 4]), f32([3]), f32([3]), f32([3])],
                         mentions: ["batch_norm_backward", "float32[2, 3]", "float32[2, 4]"])
        assertShapeError(.layerNorm(axes: 3, epsilon: 1e-5), [f32([2, 3]), f32([2, 3]), f32([2, 3])],
                         mentions: ["layer_norm", "last 3 axes", "[2, 3]"])
        assertShapeError(.layerNorm(axes: 1, epsilon: 1e-5), [f32([2, 3]), f32([3]), TensorSpec([3], .float64)],
                         mentions: ["layer_norm", "float32", "float64"])
        assertShapeError(.layerNormBackward(axes: 1, epsilon: 1e-5), [f32([2, 3]), f32([2, 3]), f32([3]), f32([2]), f32([3])],
                         mentions: ["layer_norm_backward", "mean must have shape [2]", "got [3]"])
    }
}
