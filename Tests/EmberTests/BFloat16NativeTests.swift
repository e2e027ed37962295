import XCTest
@testable import Ember

/// Elementwise operations and inference batch norm on bfloat16 memory, run natively: each
/// element widened in registers, computed in float32, the result rounded once.
///
/// Tolerances: against the same bfloat16 values in float32, a native kernel computes
/// exactly what the float32 kernel does and rounds once, so arithmetic (add, mul, max, ReLU,
/// comparisons) matches the float32 result rounded to bfloat16 bit for bit; transcendental
/// functions (vector approximations in both, not the same code) within one bfloat16 step,
/// 2^-8 relative. Batch norm against float64 on the same bfloat16 input: one rounding of
/// the result, 2^-8 of the scale. Gradients against float32: 2% of the scale, as
/// AutocastTests (every bfloat16 value on the way rounds once).
final class BFloat16NativeTests: XCTestCase {
    func random(_ shape: [Int], _ seed: UInt64) -> Tensor { Tensor.randomNormal(shape, source: .key(Key(seed))) }

    /// The kernels that ran in `body` on float32 copies of half-precision operands.
    func float32Copies(_ body: () -> Void) -> [String] {
        profile(body).profile.kernels.filter(\.float32Copies).map(\.name)
    }

    func testArithmeticMatchesFloat32RoundedOnce() {
        let a = random([3, 5, 40], 1).cast(to: .bfloat16), b = random([3, 5, 40], 2).cast(to: .bfloat16)
        let row = random([40], 3).cast(to: .bfloat16)
        // A transposed view and a broadcast row exercise the strided and broadcast loads.
        let operands: [(String, Tensor, Tensor)] = [("dense", a, b), ("broadcast", a, row), ("strided", a.transposed(0, 2), b.transposed(0, 2))]
        for (layout, x, y) in operands {
            let wide = (x.cast(to: .float32), y.cast(to: .float32))
            let cases: [(String, Tensor, Tensor)] = [
                ("add", x + y, wide.0 + wide.1), ("sub", x - y, wide.0 - wide.1), ("mul", x * y, wide.0 * wide.1),
                ("div", x / y, wide.0 / wide.1), ("maximum", maximum(x, y), maximum(wide.0, wide.1)),
                ("relu", x.relu(), wide.0.relu()), ("neg", -x, -wide.0), ("abs", x.abs(), wide.0.abs()),
            ]
            XCTAssertEqual((x .> y).doubles, (wide.0 .> wide.1).doubles, "greater \(layout)")
            for (name, native, expected) in cases {
                XCTAssertEqual(native.dtype, .bfloat16, "\(name) \(layout)")
                XCTAssertEqual(native.doubles, expected.cast(to: .bfloat16).doubles, "\(name) \(layout): float32 rounded once")
            }
        }
        // The operations above, run again under the profiler: none computed on float32 copies.
        XCTAssertEqual(float32Copies { _ = ((a + b) * row - a).relu().abs() / b; _ = a .> b }, [])
    }

    func testTranscendentalWithinOneStep() {
        let x = random([4, 33], 4).cast(to: .bfloat16), positive = x.abs() + 0.01
        let cases: [(String, Tensor, (Tensor) -> Tensor)] = [
            ("exp", x, { $0.exp() }), ("tanh", x, { $0.tanh() }), ("sigmoid", x, { $0.sigmoid() }), ("gelu", x, { $0.gelu() }),
            ("log", positive, { $0.log() }), ("sqrt", positive, { $0.sqrt() }),
        ]
        for (name, input, f) in cases {
            var native = input
            XCTAssertEqual(float32Copies { native = f(input) }, [], name)
            XCTAssertEqual(native.dtype, .bfloat16, name)
            let expected = f(input.cast(to: .float32))
            assertClose(native.cast(to: .float32), expected, atol: 1e-6, rtol: 1.0 / 256, name)
        }
    }

    /// Half-precision gradients of elementwise operations against float32's.
    func testGradientsAgainstFloat32() {
        let x = random([6, 20], 5), y = random([6, 20], 6)
        let f = { (xs: [Tensor]) -> Tensor in ((xs[0] * xs[1]).tanh() + xs[0].relu() - xs[1].sigmoid()).cast(to: .float32).sum() }
        let expected = grad(f)([x, y])
        let half = grad { (xs: [Tensor]) in f(xs.map { $0.cast(to: .bfloat16) }) }([x, y])
        for (g, e) in zip(half, expected) {
            XCTAssertEqual(g.dtype, .float32)
            assertClose(g, e, atol: 0.02 * e.abs().max().item(), rtol: 0)
        }
    }

    /// Pooling forward on oneDNN's bf16 kernels: max pooling picks a bfloat16 value (exact),
    /// average pooling sums in float32 and rounds once. Gradients against float32's.
    func testPoolingInBFloat16() {
        // Values that bfloat16 holds exactly, so that both sides see the same ties in a window.
        let x = random([2, 4, 9, 9], 7).cast(to: .bfloat16).cast(to: .float32)
        let half = x.cast(to: .bfloat16), wide = x
        var pooled = (half, half)
        let copies = float32Copies {
            pooled = (maxPool2d(half, kernelSize: 3, stride: 2, padding: 1), avgPool2d(half, kernelSize: 3, stride: 2, padding: 1))
        }
        XCTAssertEqual(copies.count, cpuHasNativeBFloat16 ? 0 : 2, "pooling on float32 copies: \(copies)")
        XCTAssertEqual(pooled.0.dtype, .bfloat16)
        XCTAssertEqual(pooled.0.doubles, maxPool2d(wide, kernelSize: 3, stride: 2, padding: 1).doubles, "max: exact")
        let average = avgPool2d(wide, kernelSize: 3, stride: 2, padding: 1)
        assertClose(pooled.1.cast(to: .float32), average, atol: 1e-6, rtol: 1.0 / 256, "average: one rounding")
        let probes = (random([2, 4, 4, 4], 8), random([2, 4, 5, 5], 9))
        let f = { (xs: [Tensor]) -> Tensor in
            (maxPool2d(xs[0], kernelSize: 2).cast(to: .float32) * probes.0).sum()
                + (avgPool2d(xs[0], kernelSize: 3, stride: 2, padding: 1).cast(to: .float32) * probes.1).sum()
        }
        let expected = grad(f)([x])[0], gradient = grad { f([$0[0].cast(to: .bfloat16)]) }([x])[0]
        assertClose(gradient, expected, atol: 0.02 * expected.abs().max().item(), rtol: 0, "gradient")
    }

    // MARK: Batch norm in inference

    func statistics(_ channels: Int) -> [Tensor] {
        [random([channels], 10) * 0.3, random([channels], 11).abs() + 0.5, random([channels], 12) * 0.2 + 1, random([channels], 13) * 0.1]
    }

    func evalBatchNorm(_ x: Tensor, _ s: [Tensor]) -> Tensor {
        batchNorm(x, runningMean: s[0], runningVariance: s[1], weight: s[2], bias: s[3], training: false).output
    }

    func testInferenceBatchNormStaysBFloat16() {
        let s = statistics(8)
        let x = random([2, 8, 5, 7], 14).cast(to: .bfloat16)
        var y = x
        XCTAssertEqual(float32Copies { y = autocast { evalBatchNorm(x, s) } }, [], "one native pass")
        XCTAssertEqual(y.dtype, .bfloat16, "as PyTorch's CPU autocast: the input's type")
        let exact = evalBatchNorm(x.cast(to: .float64), s.map { $0.cast(to: .float64) })
        let scale = exact.abs().max().item()
        assertClose(y.cast(to: .float64), exact, atol: scale / 256, rtol: 0, "one rounding of the result")
        // Channels-last input: the same values.
        let channelsLast = x.permuted(0, 2, 3, 1).contiguous().permuted(0, 3, 1, 2)
        XCTAssertEqual(evalBatchNorm(channelsLast, s).doubles, y.doubles)
        // Training keeps float32 statistics and result.
        XCTAssertEqual(autocast { batchNorm(x, runningMean: s[0], runningVariance: s[1], training: true).output.dtype }, .float32)
    }

    /// Gradients reach the float32 input and parameters; tangents and batching follow.
    func testInferenceBatchNormTransforms() {
        let s = statistics(6)
        let x = random([3, 6, 4, 4], 15)
        let probe = random([3, 6, 4, 4], 16)
        let f = { (xs: [Tensor]) -> Tensor in
            let input = xs[0].cast(to: .bfloat16)
            let y = batchNorm(input, runningMean: s[0], runningVariance: s[1], weight: xs[1], bias: xs[2], training: false).output
            return (y.cast(to: .float32) * probe).sum()
        }
        let reference = { (xs: [Tensor]) -> Tensor in
            (batchNorm(xs[0], runningMean: s[0], runningVariance: s[1], weight: xs[1], bias: xs[2], training: false).output * probe).sum()
        }
        let inputs = [x, s[2], s[3]]
        for (g, e) in zip(grad(f)(inputs), grad(reference)(inputs)) {
            XCTAssertEqual(g.dtype, .float32)
            assertClose(g, e, atol: 0.02 * e.abs().max().item(), rtol: 0, "gradient")
        }
        let tangent = random([3, 6, 4, 4], 17)
        let half = jvp({ evalBatchNorm($0.cast(to: .bfloat16), s).cast(to: .float32) }, primal: x, tangent: tangent).tangent
        let float = jvp({ evalBatchNorm($0, s) }, primal: x, tangent: tangent).tangent
        assertClose(half, float, atol: 0.02 * float.abs().max().item(), rtol: 0, "tangent")
        let xs = random([3, 2, 6, 4, 4], 18).cast(to: .bfloat16)
        let batched = vmap({ self.evalBatchNorm($0, s) })(xs)
        let looped = Tensor.stack((0..<3).map { evalBatchNorm(xs[$0], s) })
        XCTAssertEqual(batched.dtype, .bfloat16)
        assertClose(batched.cast(to: .float32), looped.cast(to: .float32), atol: 0.02 * looped.cast(to: .float32).abs().max().item(),
                    rtol: 0, "vmap")
    }

    /// An eval-mode ResNet-style network under autocast, eagerly: convolutions, batch norm,
    /// ReLU and residual adds all run on bfloat16 memory; only the final mean (a reduction)
    /// computes on float32 copies.
    func testEagerConvolutionNetworkRunsNatively() {
        let shapes = [[8, 3, 3, 3], [8, 8, 3, 3], [8, 8, 3, 3], [8, 8, 3, 3]]
        let weights = shapes.enumerated().map { random($1, 20 + UInt64($0)) * (1 / Double($1.dropFirst().reduce(1, *))).squareRoot() }
        let net = CompileBFloat16Tests.network(weights, (0..<4).map { _ in statistics(8) })
        let x = random([2, 3, 12, 12], 30)
        let expected = net([x])[0]
        var mixed = expected
        let copies = float32Copies { mixed = autocast { net([x])[0] } }
        // Without bf16 instructions the convolutions compute on float32 copies too.
        XCTAssertEqual(Set(copies), cpuHasNativeBFloat16 ? ["reduce_sum"] : ["reduce_sum", "conv2d"],
                       "only the mean's sum computes on float32 copies")
        assertClose(mixed.cast(to: .float32), expected, atol: 0.02 * expected.abs().max().item(), rtol: 0)
        let compiled = compile(net, options: .inference)
        assertClose(autocast { compiled([x])[0] }.cast(to: .float32), expected, atol: 0.02 * expected.abs().max().item(), rtol: 0,
                    "compiled")
    }
}
