import XCTest
@testable import Ember

/// Compile under autocast: a bfloat16 convolution whose result is widened at once writes
/// float32 itself (`HalfConvolutionOutput`), so eval-mode batch norm folds into it and its
/// activation or residual add fuse as oneDNN post-ops, with bfloat16 images channels-last.
///
/// Tolerances: against the same bf16 values in float64, a convolution writing float32 rounds
/// nothing but its float32 sums: within 2^-12 of the scale, where one bf16 rounding of the
/// result (what the widening pass removes) is up to 2^-9. Whole networks against float32:
/// 2% of the scale, as AutocastTests (each bf16 product rounds its inputs).
final class CompileBFloat16Tests: XCTestCase {
    func random(_ shape: [Int], _ seed: UInt64) -> Tensor { Tensor.randomNormal(shape, source: .key(Key(seed))) }

    func channelsLast(_ x: Tensor) -> Tensor { x.permuted(0, 2, 3, 1).contiguous().permuted(0, 3, 1, 2) }

    func output(_ shape: [Int], channelsLast: Bool = false) -> Tensor {
        Tensor(storage: defaultBackend.allocate(byteCount: ShapeMath.count(shape) * 4), shape: shape,
               strides: channelsLast ? ShapeMath.channelsLastStrides(shape) : ShapeMath.contiguousStrides(shape), offset: 0,
               dtype: .float32)
    }

    /// The kernel: bf16 image, weight and bias in, float32 out, row-major and channels-last,
    /// alone and heading a fused program (ReLU; a residual add then ReLU).
    func testBFloat16ConvolutionWritesFloat32() {
        let config = ConvConfig(stride: [1, 1], padding: [1, 1])
        let x = random([2, 32, 10, 10], 1).cast(to: .bfloat16), w = (random([32, 32, 3, 3], 2) * 0.1).cast(to: .bfloat16)
        let b = random([32], 3).cast(to: .bfloat16), residual = random([2, 32, 10, 10], 4)
        let exact = conv2d(x.cast(to: .float64), weight: w.cast(to: .float64), bias: b.cast(to: .float64), padding: 1)
        let scale = exact.abs().max().item()
        func check(_ out: Tensor, _ expected: Tensor, _ message: String) {
            XCTAssertEqual(out.dtype, .float32, message)
            assertClose(out.cast(to: .float64), expected, atol: scale / 4096, rtol: 0, message)
        }
        for layout in [false, true] {
            let out = output(exact.shape, channelsLast: layout)
            defaultBackend.execute(.conv2d(config), inputs: [layout ? channelsLast(x) : x, w, b], outputs: [out])
            check(out, exact, "conv2d, channels-last \(layout)")
        }
        let relu = FusedProgram(domain: exact.shape, operandCount: 1, instructions: [.unary(.relu, 0)], outputs: [1],
                                head: .conv2d(config, hasBias: true))
        let out = output(exact.shape, channelsLast: true)
        defaultBackend.execute(.fused(relu), inputs: [channelsLast(x), w, b], outputs: [out])
        check(out, exact.relu(), "fused ReLU")
        let residualAdd = FusedProgram(domain: exact.shape, operandCount: 2, instructions: [.binary(.add, 0, 1), .unary(.relu, 2)],
                                       outputs: [3], head: .conv2d(config, hasBias: true))
        let sum = output(exact.shape)
        defaultBackend.execute(.fused(residualAdd), inputs: [x, w, b, residual], outputs: [sum])
        check(sum, (exact + residual.cast(to: .float64)).relu(), "fused residual add")
    }

    /// Two ResNet-style blocks in eval mode: convolution, batch norm, ReLU, and a residual add.
    static func network(_ weights: [Tensor], _ statistics: [[Tensor]]) -> ([Tensor]) -> [Tensor] {
        { xs in
            func convBN(_ x: Tensor, _ i: Int) -> Tensor {
                let s = statistics[i]
                return batchNorm(conv2d(x, weight: weights[i], padding: 1), runningMean: s[0], runningVariance: s[1], weight: s[2],
                                 bias: s[3], training: false).output
            }
            let stem = convBN(xs[0], 0).relu()
            let inner = convBN(stem, 1).relu()
            let block = (convBN(inner, 2) + stem).relu()
            return [(convBN(block, 3) + block).relu().mean(axes: [2, 3])]
        }
    }

    /// `network` with 16 channels and its input.
    func sampleNetwork() -> (net: ([Tensor]) -> [Tensor], x: Tensor) {
        let shapes = [[16, 3, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3]]
        let weights = shapes.enumerated().map { random($1, UInt64($0)) * (1 / Double($1.dropFirst().reduce(1, *))).squareRoot() }
        let statistics = (0..<4).map { i in
            [random([16], 10 + UInt64(i)) * 0.1, random([16], 20 + UInt64(i)).abs() + 0.5,
             random([16], 30 + UInt64(i)) * 0.2 + 1, random([16], 40 + UInt64(i)) * 0.1]
        }
        return (CompileBFloat16Tests.network(weights, statistics), random([2, 3, 16, 16], 50))
    }

    func testCompiledInferenceFoldsBatchNormIntoBFloat16ConvolutionsAndFuses() {
        let (net, x) = sampleNetwork()
        let compiled = compile(net, options: .inference)
        let mixed = autocast { compiled([x])[0] }
        let expected = net([x])[0]
        XCTAssertEqual(mixed.dtype, .float32)
        assertClose(mixed, expected, atol: 0.02 * expected.abs().max().item(), rtol: 0, "against float32")
        let eager = autocast { net([x])[0] }
        assertClose(mixed, eager, atol: 0.02 * expected.abs().max().item(), rtol: 0, "against eager autocast")

        let graph = autocast { compiled.graph(for: [x]) }
        let report = autocast { compiled.report(for: [x]) }
        XCTAssertEqual(graph.count { $0 == .cast(.float32) }, 0, "no widening pass after a convolution\n\(report)")
        // Only the mean's division is left: batch norm folded, the residual adds fused.
        XCTAssertEqual(graph.count { if case .binary = $0 { return true } else { return false } }, 1, report)
        let widening = graph.operations.filter { operation in
            graph.specs[operation.inputs[0]].dtype == .bfloat16 && graph.specs[operation.outputs[0]].dtype == .float32
        }
        let heads = widening.filter { if case .fused = $0.primitive { return true } else { return false } }
        // The last convolution's residual add, ReLU and mean form one program of their own.
        XCTAssertEqual(widening.count, 4, "every convolution reads bf16 and writes float32\n\(report)")
        XCTAssertEqual(heads.count, 3, "three with their activation or residual add as post-ops\n\(report)")
        let plan = MemoryPlan(graph)
        let halfImages = plan.layouts.channelsLast.filter { graph.specs[$0].dtype == .bfloat16 }
        XCTAssertEqual(halfImages.count, 3, "the convolutions' bf16 inputs after the stem are channels-last\n\(report)")
    }

    /// The folded convolutions (bf16 image and weight, float32 bias and output, alone or
    /// heading a program) run on oneDNN's bf16 kernel, not on float32 copies of their
    /// operands: a kernel check too strict for the float32 bias once sent them there, which
    /// only the timing showed. On a CPU without bf16 instructions they all run on copies.
    func testFoldedConvolutionsRunOnTheBFloat16Kernel() {
        let (net, x) = sampleNetwork()
        let compiled = compile(net, options: .inference)
        _ = autocast { compiled([x]) }
        let kernels = profile { _ = autocast { compiled([x]) } }.profile.kernels
        let convolutions = kernels.filter { $0.name.contains("conv2d") }
        XCTAssertEqual(convolutions.count, 4, "\(kernels.map(\.name))")
        XCTAssertTrue(convolutions.allSatisfy { $0.inputDTypes.prefix(2) == [.bfloat16, .bfloat16] }, "bf16 image and weight")
        XCTAssertEqual(convolutions.filter(\.float32Copies).map(\.name), cpuHasNativeBFloat16 ? [] : convolutions.map(\.name),
                       "convolutions computed on float32 copies")
    }

    /// With the tape recording, a compiled function replays its optimized graph through the
    /// dispatcher, where a convolution's rule gives bfloat16: the replay casts to the float32
    /// the graph records, and gradients reach the float32 input.
    func testDispatcherReplayOfWidenedConvolutions() {
        let w = random([8, 4, 3, 3], 1) * 0.2
        // Smooth (tanh, not ReLU): a bf16 rounding across a kink would move single gradients.
        let f = { (xs: [Tensor]) -> [Tensor] in [(conv2d(xs[0], weight: w, padding: 1).cast(to: .float32) * 0.5).tanh()] }
        let compiled = compile(f)
        let x = random([2, 4, 6, 6], 2)
        let loss = { (xs: [Tensor]) -> Tensor in autocast { compiled(xs)[0].sum() } }
        let gradient = grad(loss)([x])[0]
        let expected = grad { (xs: [Tensor]) in f(xs)[0].sum() }([x])[0]
        XCTAssertEqual(gradient.dtype, .float32)
        assertClose(gradient, expected, atol: 0.02 * expected.abs().max().item(), rtol: 0)
        let graph = autocast { compiled.graph(for: [x]) }
        XCTAssertEqual(graph.count { $0 == .cast(.float32) }, 0, "the widening is in the convolution\n\(graph)")
    }
}
