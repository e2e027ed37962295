import XCTest
@testable import Ember

/// maxPool2d, avgPool2d and adaptiveAvgPool2d: values and gradients against PyTorch
/// (Fixtures/generate_nn.py; ceil mode, dilation and adaptive pooling through their layers
/// in NN/PoolingLayerTests), finite differences, second derivatives, oneDNN against the
/// float64 loops, shape errors.
final class PoolingTests: XCTestCase {
    func testMaxPoolAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        fixtures.checkCase("max_pool", inputs: 1) { maxPool2d($0[0]!, kernelSize: 3, stride: 2, padding: 1) }
        fixtures.checkCase("max_pool_rect", inputs: 1) { maxPool2d($0[0]!, kernelSize: [2, 3], stride: [1, 2], padding: [1, 0]) }
    }

    func testAvgPoolAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        fixtures.checkCase("avg_pool_include_pad", inputs: 1) { avgPool2d($0[0]!, kernelSize: 3, stride: 2, padding: 1) }
        fixtures.checkCase("avg_pool_exclude_pad", inputs: 1) {
            avgPool2d($0[0]!, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)
        }
        fixtures.checkCase("avg_pool_rect", inputs: 1) { avgPool2d($0[0]!, kernelSize: [3, 2], stride: [2, 1], padding: [1, 1]) }
    }

    func testStrideDefaultsToKernelSize() {
        let x = Tensor(doubles: (0..<16).map(Double.init), shape: [1, 1, 4, 4], dtype: .float32)
        assertClose(maxPool2d(x, kernelSize: 2), [5, 7, 13, 15])
        assertClose(avgPool2d(x, kernelSize: 2), [2.5, 4.5, 10.5, 12.5])
    }

    func testStridedInputsMatchDenseOnes() {
        for dtype in [DType.float64, .float32] {
            let x = randomDoubles([2, 3, 7, 6], seed: 20).cast(to: dtype)
            for pool in [{ maxPool2d($0, kernelSize: 3, stride: 2, padding: 1) },
                         { avgPool2d($0, kernelSize: [2, 3], stride: 1, padding: [1, 0], countIncludePad: false) }] as [(Tensor) -> Tensor] {
                let y = pool(x)
                assertClose(pool(transposedLayout(x)), y, atol: 0, rtol: 0, "\(dtype)")
                let gy = randomDoubles(y.shape, seed: 21).cast(to: dtype)
                assertClose(vjp(pool, transposedLayout(x)).pullback(transposedLayout(gy)), vjp(pool, x).pullback(gy),
                            atol: 0, rtol: 0, "\(dtype)")
            }
        }
    }

    /// Max pooling is differentiable where the maxima are unique: values 1/8 apart keep
    /// their order under the 1e-6 steps.
    func testGradientsMatchFiniteDifferences() {
        let x = distinctValues([2, 2, 5, 8], seed: 22)
        let r = randomDoubles([2, 2, 3, 4], seed: 23)
        checkGradients({ (maxPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) * r).sum() }, [x])
        let a = randomDoubles([2, 2, 5, 8], seed: 24)
        for includePad in [true, false] {
            checkGradients({ (avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1, countIncludePad: includePad) * r).sum() }, [a])
        }
    }

    func testSecondDerivativesAgainstPyTorch() throws {
        try Fixtures("nn").checkSecondOrder("max_pool_second_order", inputs: 1, wrt: [0]) {
            maxPool2d($0[0], kernelSize: 2, stride: 2, padding: 1)
        }
    }

    /// <grad_x, v> as a function of x and the output gradient: the backward primitives'
    /// derivative rules (linear in the output gradient; max pooling's is constant in x).
    func testSecondDerivativesMatchFiniteDifferences() {
        let x = distinctValues([1, 2, 5, 6], seed: 25)
        let v = randomDoubles(x.shape, seed: 26)
        let pools: [(Tensor) -> Tensor] = [{ maxPool2d($0, kernelSize: [3, 2], stride: [1, 2], padding: 1) },
                                           { avgPool2d($0, kernelSize: [3, 2], stride: [1, 2], padding: 1, countIncludePad: false) }]
        for pool in pools {
            let gy = randomDoubles(pool(x).shape, seed: 27)
            checkGradients({ t in (grad { (u: Tensor) in (pool(u) * t[1]).sum() }(t[0]) * v).sum() }, [x, gy])
        }
    }

    /// Pooling only compares and averages a handful of values: float32 rounding.
    func testOneDNNMatchesFloat64Reference() {
        let x = randomDoubles([2, 16, 15, 13], seed: 28)
        let pools: [(Tensor) -> Tensor] = [{ maxPool2d($0, kernelSize: 3, stride: 2, padding: 1) },
                                           { avgPool2d($0, kernelSize: [3, 4], stride: [2, 3], padding: [1, 2]) },
                                           { avgPool2d($0, kernelSize: 3, stride: 1, padding: 1, countIncludePad: false) }]
        for pool in pools {
            let (y, pullback) = vjp(pool, x)
            let gy = randomDoubles(y.shape, seed: 29)
            let (y32, pullback32) = vjp(pool, x.cast(to: .float32))
            assertClose(y32, y, atol: 1e-6, rtol: 1e-6)
            assertClose(pullback32(gy.cast(to: .float32)), pullback(gy), atol: 1e-6, rtol: 1e-6)
        }
    }

    func testShapeErrorsNameTheOperationAndShapes() {
        let x = TensorSpec([1, 2, 6, 6], .float32)
        assertShapeError(.maxPool2d(PoolConfig(kernel: [2, 2], stride: [2, 2], padding: [2, 0])), [x],
                         mentions: ["max_pool2d", "padding [2, 0]", "half the kernel [2, 2]"])
        assertShapeError(.avgPool2d(PoolConfig(kernel: [7, 2], stride: [1, 1])), [x],
                         mentions: ["avg_pool2d", "[7, 2]", "larger than the padded input [6, 6]"])
        assertShapeError(.avgPool2d(PoolConfig(kernel: [2, 2], stride: [1, 1])), [TensorSpec([2, 6, 6], .float32)],
                         mentions: ["avg_pool2d", "[N, C, H, W]", "[2, 6, 6]"])
        assertShapeError(.maxPool2d(PoolConfig(kernel: [2, 2], stride: [2, 2])), [TensorSpec([1, 2, 6, 6], .int64)],
                         mentions: ["max_pool2d", "int64"])
        assertShapeError(.maxPool2dBackward(PoolConfig(kernel: [2, 2], stride: [2, 2])), [x, TensorSpec([1, 2, 2, 3], .float32)],
                         mentions: ["max_pool2d_backward", "[1, 2, 3, 3]", "[1, 2, 2, 3]"])
        assertShapeError(.avgPool2dBackward(PoolConfig(kernel: [2, 2], stride: [2, 2]), inputShape: [1, 2, 6, 6]),
                         [TensorSpec([1, 2, 2, 3], .float32)], mentions: ["avg_pool2d_backward", "[1, 2, 3, 3]", "[1, 2, 2, 3]"])
    }

    func testCeilModeDilationAndAdaptiveGradientsMatchFiniteDifferences() {
        let x = distinctValues([1, 2, 8, 7], seed: 40)
        let pools: [(Tensor) -> Tensor] = [
            { maxPool2d($0, kernelSize: 3, stride: 2, padding: 1, ceilMode: true) },
            { maxPool2d($0, kernelSize: [2, 3], stride: [3, 1], padding: 1, dilation: [2, 3], ceilMode: true) },
            { avgPool2d($0, kernelSize: 3, stride: 2, padding: 1, ceilMode: true) },
            { avgPool2d($0, kernelSize: [3, 2], stride: [2, 3], padding: [1, 0], ceilMode: true, countIncludePad: false) },
            { adaptiveAvgPool2d($0, outputSize: [3, 5]) },
        ]
        for pool in pools {
            let r = randomDoubles(pool(x).shape, seed: 41)
            checkGradients({ (pool($0[0]) * r).sum() }, [x])
        }
    }

    /// As the primitive, a dilated window's gradient goes to its first maximum only.
    func testDilatedMaxPoolingRoutesTiesToTheFirstMaximum() {
        let x = Tensor.ones([1, 1, 3, 3], dtype: .float64)
        let g = grad { (t: Tensor) in maxPool2d(t, kernelSize: 2, stride: 1, dilation: 2).sum() }(x)
        XCTAssertEqual(g.doubles, [1, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    func testAdaptiveWindowsFollowPyTorchsStartAndEnd() {
        // Width 5 into 3 cells: [0, 2), [1, 4), [3, 5).
        let x = Tensor(doubles: [0, 1, 2, 3, 4], shape: [1, 1, 1, 5], dtype: .float64)
        assertClose(adaptiveAvgPool2d(x, outputSize: [1, 3]), [0.5, 2, 3.5], atol: 1e-15)
        assertClose(adaptiveAvgPool2d(x, outputSize: 1), [2], atol: 1e-15)
    }

    /// 0, 1/8, 2/8, ... in a random order (float64).
    private func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor {
        let keys = randomDoubles(shape, seed: seed).doubles
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        return Tensor(doubles: order.map { Double($0) / 8 }, shape: shape, dtype: .float64)
    }
}
