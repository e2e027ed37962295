import XCTest
@testable import Ember

/// Autocast and the bfloat16 kernels: every operation on autocast's lists against float32,
/// values and gradients, the types each returns, the weight cache, and compile.
///
/// Tolerance: bfloat16 keeps 8 significant bits, so each rounding is within 2^-9 (0.2%)
/// relative. A product rounds its inputs once and its result once, accumulating in float32
/// between: about 3 · 2^-9 of the result's scale. Checks allow 2% of the scale (the largest
/// |value| of the float32 result), which the float32 error of the accumulation never nears
/// and a product computed in the wrong type or on the wrong operands far exceeds.
final class AutocastTests: XCTestCase {
    /// |actual - expected| <= 2% of max |expected|, after checking the dtype.
    func assertBFloat16Close(_ actual: Tensor, _ expected: Tensor, dtype: DType = .bfloat16, _ message: String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.dtype, dtype, "dtype \(message)", file: file, line: line)
        let scale = expected.cast(to: .float64).abs().max().item()
        assertClose(actual.cast(to: .float64), expected.cast(to: .float64), atol: 0.02 * scale, rtol: 0, message, file: file, line: line)
    }

    func random(_ shape: [Int], _ seed: UInt64) -> Tensor { Tensor.randomNormal(shape, source: .key(Key(seed))) }

    /// `f`'s value and the gradients of sum(f · probe) for each input, in float32 and under
    /// autocast, compared; the gradients reach the float32 inputs as float32.
    func checkAgainstFloat32(_ name: String, _ inputs: [Tensor], resultType: DType = .bfloat16,
                             _ f: @escaping ([Tensor]) -> Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let expected = f(inputs)
        let probe = random(expected.shape, 99)
        let loss = { (xs: [Tensor]) -> Tensor in (f(xs).cast(to: .float32) * probe).sum() }
        let expectedGradients = grad(loss)(inputs)
        let actual = autocast { f(inputs) }
        assertBFloat16Close(actual, expected, dtype: resultType, "\(name) value", file: file, line: line)
        let gradients = grad { xs in autocast { loss(xs) } }(inputs)
        for (i, (g, e)) in zip(gradients, expectedGradients).enumerated() {
            assertBFloat16Close(g, e, dtype: .float32, "\(name) gradient of input \(i)", file: file, line: line)
        }
    }

    // MARK: Lower-precision list

    func testMatmulRunsInBFloat16() {
        checkAgainstFloat32("matmul 2-D", [random([33, 70], 1), random([70, 45], 2)]) { matmul($0[0], $0[1]) }
        checkAgainstFloat32("matmul batched", [random([3, 17, 64], 3), random([3, 64, 9], 4)]) { matmul($0[0], $0[1]) }
        checkAgainstFloat32("matmul broadcast", [random([2, 1, 8, 32], 5), random([3, 32, 8], 6)]) { matmul($0[0], $0[1]) }
        checkAgainstFloat32("matmul transposed", [random([40, 24], 7), random([16, 40], 8)]) { matmul($0[0].transposed(), $0[1].transposed()) }
        checkAgainstFloat32("matmul vector", [random([48], 9), random([48, 5], 10)]) { matmul($0[0], $0[1]) }
        checkAgainstFloat32("einsum", [random([4, 8, 16], 11), random([4, 16, 8], 12)]) { einsum("bij,bjk->bik", $0[0], $0[1]) }
    }

    func testConvolutionsRunInBFloat16() {
        checkAgainstFloat32("conv2d", [random([2, 16, 10, 10], 1), random([24, 16, 3, 3], 2), random([24], 3)]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        checkAgainstFloat32("conv2d strided, grouped", [random([2, 8, 11, 9], 4), random([8, 4, 3, 3], 5)]) {
            conv2d($0[0], weight: $0[1], stride: 2, padding: 1, groups: 2)
        }
        checkAgainstFloat32("conv1d", [random([2, 6, 20], 6), random([10, 6, 5], 7), random([10], 8)]) {
            conv1d($0[0], weight: $0[1], bias: $0[2], padding: 2)
        }
        checkAgainstFloat32("convTranspose2d", [random([2, 8, 5, 5], 9), random([8, 6, 3, 3], 10), random([6], 11)]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }

    /// The bf16 kernels (oneDNN's where the CPU has bf16 instructions) against the product of
    /// the same bf16 values computed in float64 and rounded once: within one bf16 rounding
    /// plus float32 accumulation, so 2^-8 of the scale.
    func testBFloat16KernelsAgainstRoundedFloat64() {
        let a = random([64, 200], 1).cast(to: .bfloat16), b = random([200, 48], 2).cast(to: .bfloat16)
        let product = matmul(a, b)
        XCTAssertEqual(product.dtype, .bfloat16)
        let exact = matmul(a.cast(to: .float64), b.cast(to: .float64))
        let scale = exact.abs().max().item()
        assertClose(product.cast(to: .float64), exact, atol: scale / 256, rtol: 0, "matmul")

        let x = random([2, 32, 12, 12], 3).cast(to: .bfloat16), w = random([16, 32, 3, 3], 4).cast(to: .bfloat16)
        let y = conv2d(x, weight: w, padding: 1)
        let exactY = conv2d(x.cast(to: .float64), weight: w.cast(to: .float64), padding: 1)
        assertClose(y.cast(to: .float64), exactY, atol: exactY.abs().max().item() / 256, rtol: 0, "conv2d")
        let gy = random(y.shape, 5).cast(to: .bfloat16)
        let (gx, gw) = (Convolution.backwardInput(ConvConfig(stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1), gy, w,
                                                  inputShape: x.shape),
                        Dispatch.run1(.conv2dBackwardWeight(ConvConfig(stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1),
                                                            weightShape: w.shape), [x, gy]))
        let exactGX = Convolution.backwardInput(ConvConfig(stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1),
                                                gy.cast(to: .float64), w.cast(to: .float64), inputShape: x.shape)
        let exactGW = Dispatch.run1(.conv2dBackwardWeight(ConvConfig(stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1),
                                                          weightShape: w.shape), [x.cast(to: .float64), gy.cast(to: .float64)])
        XCTAssertEqual(gx.dtype, .bfloat16)
        XCTAssertEqual(gw.dtype, .bfloat16)
        assertClose(gx.cast(to: .float64), exactGX, atol: exactGX.abs().max().item() / 256, rtol: 0, "conv2d input gradient")
        assertClose(gw.cast(to: .float64), exactGW, atol: exactGW.abs().max().item() / 256, rtol: 0, "conv2d weight gradient")
    }

    // MARK: Float32 list

    func testFloat32ListWidensHalfInputs() {
        let x = random([6, 10], 1)
        checkAgainstFloat32("softmax", [x], resultType: .float32) { $0[0].cast(to: .bfloat16).cast(to: .float32).softmax(axis: -1) }
        autocast {
            let half = x.cast(to: .bfloat16)
            XCTAssertEqual(half.softmax().dtype, .float32)
            XCTAssertEqual(half.logSoftmax().dtype, .float32)
            XCTAssertEqual(layerNorm(half, normalizedShape: [10]).dtype, .float32)
            XCTAssertEqual(batchNorm(half, runningMean: nil, runningVariance: nil, training: true).output.dtype, .float32)
        }
        // Outside a region, half stays half.
        XCTAssertEqual(x.cast(to: .bfloat16).softmax().dtype, .bfloat16)
    }

    func testNormalizationStatisticsInFloat32() {
        // Values whose mean dwarfs their spread: bf16 statistics would lose the spread.
        let x = random([4, 64], 2) * 0.01 + 3
        let expected = layerNorm(x.cast(to: .bfloat16).cast(to: .float32), normalizedShape: [64])
        let actual = autocast { layerNorm(x.cast(to: .bfloat16), normalizedShape: [64]) }
        assertClose(actual, expected, atol: 1e-4, rtol: 1e-4)
    }

    // MARK: Region behaviour

    func testWeightCastOncePerRegionAndGradientsInFloat32() {
        let w = random([8, 8], 1)
        w.requiresGrad = true
        let x = random([4, 8], 2)
        let loss = autocast { () -> Tensor in
            let h = matmul(matmul(x, w.transposed()), w.transposed())
            return h.cast(to: .float32).sum()
        }
        loss.backward()
        XCTAssertEqual(w.grad?.dtype, .float32)
        // d/dw sum(x wᵀ wᵀ) in float32, against the bf16 run.
        let reference = grad { (ws: [Tensor]) in matmul(matmul(x, ws[0].transposed()), ws[0].transposed()).sum() }([w])[0]
        assertBFloat16Close(w.grad!, reference, dtype: .float32, "gradient through the cached cast")
        autocast {
            let first = Autocast.cast(w, to: .bfloat16), second = Autocast.cast(w, to: .bfloat16)
            XCTAssertTrue(first === second, "a parameter is cast once per region")
            let activation = random([2, 2], 3)
            XCTAssertFalse(Autocast.cast(activation, to: .bfloat16) === Autocast.cast(activation, to: .bfloat16),
                           "only parameters (leaves that require grad) are cached")
        }
    }

    func testNestingAndDisabling() {
        let a = random([4, 4], 1), b = random([4, 4], 2)
        XCTAssertNil(Autocast.dtype)
        autocast {
            XCTAssertEqual(matmul(a, b).dtype, .bfloat16)
            autocast(enabled: false) { XCTAssertEqual(matmul(a, b).dtype, .float32) }
            autocast(.float16) { XCTAssertEqual(matmul(a, b).dtype, .float16) }
            XCTAssertEqual(Autocast.dtype, .bfloat16)
            // float64 is not lowered, as in PyTorch.
            XCTAssertEqual(matmul(a.cast(to: .float64), b.cast(to: .float64)).dtype, .float64)
        }
        XCTAssertNil(Autocast.dtype)
    }

    /// float16 is stored in 16 bits and computed in float32 (no float16 arithmetic here):
    /// 11 significant bits, so 0.5% of the scale.
    func testFloat16Autocast() {
        let a = random([20, 30], 1), b = random([30, 10], 2)
        let expected = matmul(a, b)
        let actual = autocast(.float16) { matmul(a, b) }
        XCTAssertEqual(actual.dtype, .float16)
        assertClose(actual.cast(to: .float64), expected.cast(to: .float64), atol: 0.005 * expected.abs().max().item(), rtol: 0)
    }

    func testCompileTracesTheRegionsCasts() {
        let w = random([16, 8], 1), x = random([4, 16], 2)
        let f = compile { (xs: [Tensor]) in [matmul(xs[0], w).softmax(axis: -1)] }
        let plain = f([x])[0]
        let mixed = autocast { f([x])[0] }
        XCTAssertEqual(f.traceCount, 2, "autocast's type is part of the signature")
        XCTAssertEqual(plain.dtype, .float32)
        XCTAssertEqual(mixed.dtype, .float32, "softmax returns float32 under autocast")
        assertBFloat16Close(mixed, plain, dtype: .float32)
        XCTAssertTrue(autocast { f.graph(for: [x]) }.description.contains("bfloat16"), "the cast is in the traced graph")
    }

    func testInstructionSetIsReported() {
        XCTAssertFalse(oneDNNInstructionSet.isEmpty)
        // Where oneDNN reports bf16 instructions, the bf16 path is native.
        XCTAssertEqual(cpuHasNativeBFloat16, oneDNNInstructionSet.contains("bf16") || oneDNNInstructionSet.contains("amx"))
    }
}
