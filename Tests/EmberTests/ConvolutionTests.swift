import XCTest
@testable import Ember

/// conv2d, conv1d and convTranspose2d: values and gradients against PyTorch
/// (Fixtures/generate_nn.py; convTranspose2d through its layer in NN/ConvolutionLayerTests),
/// finite differences, second derivatives, oneDNN against the float64 loops, shape errors.
final class ConvolutionTests: XCTestCase {
    func testConv2dAgainstPyTorch() throws {
        let fixtures = try Fixtures("nn")
        fixtures.checkCase("conv_basic", inputs: 3) { conv2d($0[0]!, weight: $0[1]!, bias: $0[2]) }
        fixtures.checkCase("conv_stride_padding", inputs: 3) {
            conv2d($0[0]!, weight: $0[1]!, bias: $0[2], stride: [2, 1], padding: [1, 2])
        }
        fixtures.checkCase("conv_dilation", inputs: 3) {
            conv2d($0[0]!, weight: $0[1]!, bias: $0[2], padding: [2, 1], dilation: [2, 3])
        }
        fixtures.checkCase("conv_groups", inputs: 3) {
            conv2d($0[0]!, weight: $0[1]!, bias: $0[2], stride: 2, padding: 1, dilation: [1, 2], groups: 2)
        }
        fixtures.checkCase("conv_depthwise", inputs: 3) { conv2d($0[0]!, weight: $0[1]!, bias: $0[2], padding: 1, groups: 3) }
    }

    func testConv1dAgainstPyTorch() throws {
        try Fixtures("nn").checkCase("conv1d", inputs: 3) {
            conv1d($0[0]!, weight: $0[1]!, bias: $0[2], stride: 2, padding: 1, dilation: 2)
        }
    }

    func testStridedOperandsMatchDenseOnes() {
        let f = { (x: Tensor, w: Tensor) in conv2d(x, weight: w, stride: 2, padding: 1, groups: 2) }
        for dtype in [DType.float64, .float32] {
            let x = randomDoubles([2, 4, 6, 7], seed: 1).cast(to: dtype), w = randomDoubles([6, 2, 3, 3], seed: 2).cast(to: dtype)
            let y = f(x, w)
            assertClose(f(transposedLayout(x), transposedLayout(w)), y, atol: 1e-6, "\(dtype)")
            // A strided output gradient reaches both backward kernels.
            let gy = randomDoubles(y.shape, seed: 3).cast(to: dtype)
            let dense = vjp({ f($0[0], $0[1]) }, [x, w]).pullback(gy)
            let strided = vjp({ f($0[0], $0[1]) }, [x, w]).pullback(transposedLayout(gy))
            for (s, d) in zip(strided, dense) { assertClose(s, d, atol: 1e-6, "\(dtype)") }
        }
    }

    func testGradientsMatchFiniteDifferences() {
        let f = { (t: [Tensor]) in conv2d(t[0], weight: t[1], bias: t[2], stride: 2, padding: 1, dilation: [2, 1], groups: 2) }
        let inputs = [randomDoubles([2, 4, 5, 6], seed: 4), randomDoubles([6, 2, 3, 2], seed: 5), randomDoubles([6], seed: 6)]
        let r = randomDoubles(f(inputs).shape, seed: 7)
        checkGradients({ (f($0) * r).sum() }, inputs)
    }

    func testSecondDerivativesAgainstPyTorch() throws {
        try Fixtures("nn").checkSecondOrder("conv_second_order", inputs: 2, wrt: [0, 1]) {
            conv2d($0[0], weight: $0[1], stride: 2, padding: 1)
        }
    }

    /// <grad_x, v> + <grad_w, u> as a function of x, w and the output gradient: its gradient
    /// goes through the derivative rules of both backward primitives.
    func testSecondDerivativesMatchFiniteDifferences() {
        let f = { (x: Tensor, w: Tensor) in conv2d(x, weight: w, stride: [1, 2], padding: 1, dilation: [2, 1], groups: 2) }
        let x = randomDoubles([1, 2, 5, 4], seed: 8), w = randomDoubles([4, 1, 3, 2], seed: 9)
        let gy = randomDoubles(f(x, w).shape, seed: 10)
        let v = randomDoubles(x.shape, seed: 11), u = randomDoubles(w.shape, seed: 12)
        checkGradients({ t in
            let g = grad { (xw: [Tensor]) in (f(xw[0], xw[1]) * t[2]).sum() }([t[0], t[1]])
            return (g[0] * v).sum() + (g[1] * u).sum()
        }, [x, w, gy])
    }

    /// Larger than the fixtures, with more channels than a vector holds; float32 rounding
    /// of sums of 72 products of order one.
    func testOneDNNMatchesFloat64Reference() {
        let f = { (t: [Tensor]) in
            conv2d(t[0], weight: t[1], bias: t[2], stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2)
        }
        let inputs = [randomDoubles([2, 16, 13, 11], seed: 13), randomDoubles([12, 8, 3, 3], seed: 14), randomDoubles([12], seed: 15)]
        let (y, pullback) = vjp(f, inputs)
        let gy = randomDoubles(y.shape, seed: 16)
        let (y32, pullback32) = vjp(f, inputs.map { $0.cast(to: .float32) })
        XCTAssertEqual(y32.dtype, .float32)
        assertClose(y32, y, atol: 1e-4, rtol: 1e-4)
        for (g32, g) in zip(pullback32(gy.cast(to: .float32)), pullback(gy)) {
            assertClose(g32, g, atol: 1e-4, rtol: 1e-4)
        }
    }

    /// Each layout the float32 kernels choose: oneDNN's blocked layouts behind reorders (a 3x3
    /// convolution, channels not a multiple of the block of 16), the dense tensors themselves
    /// (a pointwise convolution over a 16x16 plane), and both in one layer (an RGB stem, whose
    /// input gradient stays dense). Sums of at most 180 products of order one.
    func testOneDNNLayoutsMatchFloat64Reference() {
        let cases: [(x: [Int], w: [Int], stride: Size2D, padding: Size2D)] = [
            ([2, 20, 9, 10], [24, 20, 3, 3], 1, 1),
            ([2, 24, 16, 16], [20, 24, 1, 1], 1, 0),
            ([2, 3, 17, 16], [16, 3, 7, 7], 2, 3),
        ]
        for (index, c) in cases.enumerated() {
            let seed = UInt64(20 + 3 * index)
            let f = { (t: [Tensor]) in conv2d(t[0], weight: t[1], stride: c.stride, padding: c.padding) }
            let inputs = [randomDoubles(c.x, seed: seed), randomDoubles(c.w, seed: seed + 1)]
            let (y, pullback) = vjp(f, inputs)
            let gy = randomDoubles(y.shape, seed: seed + 2)
            let (y32, pullback32) = vjp(f, inputs.map { $0.cast(to: .float32) })
            assertClose(y32, y, atol: 1e-4, rtol: 1e-4)
            for (g32, g) in zip(pullback32(gy.cast(to: .float32)), pullback(gy)) {
                assertClose(g32, g, atol: 1e-4, rtol: 1e-4)
            }
        }
    }

    /// The two gradients of a convolution share the output gradient's reorder into oneDNN's
    /// layout; inside such a region a kept reorder serves only the same tensor: another one of
    /// the same shape, or another view into the same storage, is reordered anew.
    func testSharedInputReordersServeOnlyTheSameTensor() {
        let c = ConvConfig(padding: [1, 1])
        let x = randomDoubles([2, 20, 9, 10], seed: 40).cast(to: .float32)
        let w = randomDoubles([24, 20, 3, 3], seed: 41).cast(to: .float32)
        let gys = randomDoubles([3, 2, 24, 9, 10], seed: 42).cast(to: .float32)
        let (a, b, other) = (gys[0], gys[1], randomDoubles([2, 24, 9, 10], seed: 43).cast(to: .float32))
        XCTAssertTrue(a.storage === b.storage, "two views at different offsets of one storage")
        let gradients = { (gy: Tensor) in
            [Convolution.backwardInput(c, gy, w, inputShape: x.shape), Convolution.backwardWeight(c, x, gy, weightShape: w.shape)]
        }
        let separate = [a, b, other, a].map(gradients)
        let shared = x.storage.backend.sharingInputWork { [a, b, other, a].map(gradients) }
        for (one, kept) in zip(separate.joined(), shared.joined()) {
            XCTAssertEqual(kept.floats, one.floats)
        }
        for (index, gradient) in separate.joined().enumerated() where index >= 2 && index < 6 {
            XCTAssertNotEqual(gradient.floats, separate[0][index % 2].floats, "the test's gradients differ")
        }
    }

    func testHalfPrecisionComputesInFloat32() {
        let x = randomDoubles([1, 3, 6, 6], seed: 17), w = randomDoubles([2, 3, 3, 3], seed: 18)
        let y = conv2d(x.cast(to: .bfloat16), weight: w.cast(to: .bfloat16), padding: 1)
        XCTAssertEqual(y.dtype, .bfloat16)
        // bfloat16 keeps 8 bits of mantissa: inputs and result round to ~0.4%.
        assertClose(y, conv2d(x, weight: w, padding: 1), atol: 0.1, rtol: 0.02)
    }

    /// The transposed convolution is the adjoint of the convolution with the same weight and
    /// geometry: <convTranspose2d(y, w), x> = <y, conv2d(x, w)>, with the output padding
    /// that gives back x's size (rows the convolution's floor division dropped).
    func testConvTranspose2dIsTheAdjointOfConv2d() {
        let w = randomDoubles([6, 2, 3, 2], seed: 30)
        for (stride, padding, dilation, shape) in [(Size2D(2, 3), Size2D(1, 0), Size2D(2, 1), [2, 4, 10, 12]),
                                                   (Size2D(1, 2), Size2D(2, 1), Size2D(3, 2), [1, 4, 8, 8])] {
            let x = randomDoubles(shape, seed: 31)
            let conv = conv2d(x, weight: w, stride: stride, padding: padding, dilation: dilation, groups: 2)
            let y = randomDoubles(conv.shape, seed: 32)
            let plain = convTranspose2d(y, weight: w, stride: stride, padding: padding, dilation: dilation, groups: 2)
            let outputPadding = Size2D(shape[2] - plain.shape[2], shape[3] - plain.shape[3])
            XCTAssertNotEqual(outputPadding, 0)
            let transposed = convTranspose2d(y, weight: w, stride: stride, padding: padding, outputPadding: outputPadding,
                                             dilation: dilation, groups: 2)
            XCTAssertEqual(transposed.shape, shape)
            let left = (transposed * x).sum().item(), right = (y * conv).sum().item()
            XCTAssertEqual(left, right, accuracy: 1e-9 * Swift.abs(right))
        }
    }

    func testConvTranspose2dGradientsMatchFiniteDifferences() {
        let inputs = [randomDoubles([2, 4, 3, 4], seed: 33), randomDoubles([4, 3, 3, 2], seed: 34), randomDoubles([6], seed: 35)]
        let settings: [(stride: Size2D, outputPadding: Size2D, dilation: Size2D)] = [([2, 3], [1, 2], [2, 1]), (1, [1, 0], [2, 1])]
        for s in settings {
            let f = { (t: [Tensor]) in
                convTranspose2d(t[0], weight: t[1], bias: t[2], stride: s.stride, padding: [1, 0], outputPadding: s.outputPadding,
                                dilation: s.dilation, groups: 2)
            }
            let r = randomDoubles(f(inputs).shape, seed: 36)
            checkGradients({ (f($0) * r).sum() }, inputs)
        }
    }

    func testShapeErrorsNameTheOperationAndShapes() {
        let f32 = { (shape: [Int]) in TensorSpec(shape, .float32) }
        assertShapeError(.conv2d(ConvConfig()), [f32([1, 3, 8, 8]), f32([4, 2, 3, 3])],
                         mentions: ["conv2d", "[1, 3, 8, 8]", "[4, 2, 3, 3]", "needs 3 input channels"])
        assertShapeError(.conv2d(ConvConfig(groups: 2)), [f32([1, 3, 8, 8]), f32([4, 1, 3, 3])],
                         mentions: ["conv2d", "divide by groups (2)"])
        assertShapeError(.conv2d(ConvConfig(padding: [1, 1])), [f32([1, 3, 2, 8]), f32([4, 3, 5, 3])],
                         mentions: ["conv2d", "[5, 3]", "larger than the padded input [2, 8]"])
        assertShapeError(.conv2d(ConvConfig()), [f32([1, 3, 8, 8]), f32([4, 3, 3, 3]), f32([3])],
                         mentions: ["conv2d", "bias must have shape [4]", "[3]"])
        assertShapeError(.conv2d(ConvConfig(stride: [0, 1])), [f32([1, 3, 8, 8]), f32([4, 3, 3, 3])],
                         mentions: ["conv2d", "stride [0, 1]"])
        assertShapeError(.conv2d(ConvConfig()), [f32([3, 8, 8]), f32([4, 3, 3, 3])], mentions: ["conv2d", "[N, C, H, W]", "[3, 8, 8]"])
        assertShapeError(.conv2dBackwardInput(ConvConfig(), inputShape: [1, 3, 8, 8]), [f32([1, 4, 5, 5]), f32([4, 3, 3, 3])],
                         mentions: ["conv2d_backward_input", "[1, 4, 6, 6]", "[1, 4, 5, 5]"])
        assertShapeError(.conv2dBackwardWeight(ConvConfig(), weightShape: [4, 3, 3, 3]), [f32([1, 3, 8, 8]), TensorSpec([1, 4, 6, 6], .float64)],
                         mentions: ["conv2d_backward_weight", "float32", "float64"])
    }
}
