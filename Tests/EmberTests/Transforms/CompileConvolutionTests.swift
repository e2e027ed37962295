import XCTest
@testable import Ember

/// A convolution heading a fused program (its activation applied as it writes the result:
/// oneDNN post-ops in float32), the pass that builds such programs, and the channels-last
/// layout compile's executor gives image batches between convolutions. The reference is
/// the same computation one primitive at a time on row-major tensors. Tolerances: float32
/// sums of at most 16 * 9 = 144 products of order one, and oneDNN's own tanh, GELU,
/// logistic and exp (a few ulp).
final class CompileConvolutionTests: XCTestCase {
    /// `x`'s values laid out channels-last (NHWC in memory).
    func channelsLast(_ x: Tensor) -> Tensor { x.permuted(0, 2, 3, 1).contiguous().permuted(0, 3, 1, 2) }

    /// An uninitialized channels-last output, as the executor allocates one.
    func channelsLastOutput(_ shape: [Int]) -> Tensor {
        Tensor(storage: defaultBackend.allocate(byteCount: ShapeMath.count(shape) * 4), shape: shape,
               strides: ShapeMath.channelsLastStrides(shape), offset: 0, dtype: .float32)
    }

    /// A chain of unary operations on a convolution's result.
    func activation(_ chain: [UnaryOp], _ config: ConvConfig, domain: [Int], hasBias: Bool = true) -> FusedProgram {
        FusedProgram(domain: domain, operandCount: 1, instructions: chain.enumerated().map { .unary($1, $0) },
                     outputs: [chain.count], head: .conv2d(config, hasBias: hasBias))
    }

    // MARK: The fused primitive with a head

    /// Activation chains run as post-ops, with row-major and channels-last images in and out.
    func testActivationsRunAsTheConvolutionWritesItsResult() {
        let config = ConvConfig(stride: [2, 1], padding: [1, 1])
        let inputs = compileInputs([[2, 16, 9, 10], [32, 16, 3, 3], [32]], seed: 30)
        let domain = [2, 32, 5, 10]
        for chain: [UnaryOp] in [[.relu], [.gelu], [.tanh, .sigmoid], [.abs, .sqrt, .exp]] {
            let program = activation(chain, config, domain: domain)
            XCTAssertEqual(program.unaryChain, chain)
            let reference = Fused.unfused(program, inputs)[0]
            assertClose(Dispatch.run1(.fused(program), inputs), reference, atol: 1e-4, rtol: 1e-4, "\(chain)")
            let out = channelsLastOutput(domain)
            defaultBackend.execute(.fused(program), inputs: [channelsLast(inputs[0])] + inputs.dropFirst(), outputs: [out])
            assertClose(out, reference, atol: 1e-4, rtol: 1e-4, "\(chain), channels-last")
        }
    }

    /// A program that reads other operands (a per-channel scale, a residual) computes the
    /// convolution first, into the output's layout; float64 has no post-ops at all.
    func testOtherProgramsComputeTheConvolutionFirst() {
        let config = ConvConfig(padding: [1, 1])
        let domain = [2, 16, 7, 6]
        // r3 = r0 * scale, r4 = r3 + residual, r5 = relu(r4)
        let program = FusedProgram(domain: domain, operandCount: 3,
                                   instructions: [.binary(.mul, 0, 2), .binary(.add, 3, 1), .unary(.relu, 4)], outputs: [5],
                                   head: .conv2d(config, hasBias: false))
        XCTAssertNil(program.unaryChain)
        for dtype in [DType.float32, .float64] {
            let inputs = compileInputs([[2, 16, 7, 6], [16, 16, 3, 3], domain, [16, 1, 1]], dtype: dtype, seed: 31)
            let reference = (conv2d(inputs[0], weight: inputs[1], padding: 1) * inputs[3] + inputs[2]).relu()
            assertClose(Fused.unfused(program, inputs)[0], reference, atol: 1e-12, rtol: 1e-12, "\(dtype)")
            assertClose(Dispatch.run1(.fused(program), inputs), reference, atol: 1e-4, rtol: 1e-4, "\(dtype)")
        }
        let inputs = compileInputs([[2, 16, 7, 6], [16, 16, 3, 3], domain, [16, 1, 1]], seed: 32)
        let out = channelsLastOutput(domain)
        defaultBackend.execute(.fused(program), inputs: [channelsLast(inputs[0]), inputs[1], channelsLast(inputs[2]), inputs[3]],
                               outputs: [out])
        assertClose(out, Fused.unfused(program, inputs)[0], atol: 1e-4, rtol: 1e-4, "channels-last")
    }

    /// relu(conv(x) + residual) as a sum post-op: into the residual's own memory (in place,
    /// channels-last or a row-major pointwise convolution), into another output (the
    /// residual copied there first), and through the rest of the program where oneDNN
    /// would write via a reorder (a row-major 3x3 convolution).
    func testResidualAddRunsAsTheConvolutionWrites() {
        for (kernel, padding) in [(3, 1), (1, 0)] {
            let config = ConvConfig(padding: [padding, padding])
            let domain = [2, 16, 16, 16]
            let program = FusedProgram(domain: domain, operandCount: 2, instructions: [.binary(.add, 1, 0), .unary(.relu, 2)],
                                       outputs: [3], head: .conv2d(config, hasBias: true))
            XCTAssertEqual(program.residualChain?.chain, [.relu])
            let inputs = compileInputs([[2, 16, 16, 16], [16, 16, kernel, kernel], [16], domain], seed: 40 + UInt64(kernel))
            let expected = (conv2d(inputs[0], weight: inputs[1], bias: inputs[2], padding: Size2D(padding, padding)) + inputs[3]).relu()
            assertClose(Dispatch.run1(.fused(program), inputs), expected, atol: 1e-4, rtol: 1e-4, "\(kernel)x\(kernel), row-major")
            let other = channelsLastOutput(domain)
            defaultBackend.execute(.fused(program), inputs: [channelsLast(inputs[0])] + inputs[1...2] + [channelsLast(inputs[3])],
                                   outputs: [other])
            assertClose(other, expected, atol: 1e-4, rtol: 1e-4, "\(kernel)x\(kernel), channels-last")
            for residual in [channelsLast(inputs[3]), inputs[3].cloned()] {
                defaultBackend.execute(.fused(program), inputs: Array(inputs.prefix(3)) + [residual], outputs: [residual])
                assertClose(residual, expected, atol: 1e-4, rtol: 1e-4, "\(kernel)x\(kernel), in place, \(residual.strides)")
            }
        }
    }

    /// The shape rule is the convolution's followed by the program's; the derivative rule
    /// differentiates both.
    func testShapeRuleAndGradients() throws {
        let config = ConvConfig(stride: [2, 2], padding: [1, 0])
        let program = activation([.tanh], config, domain: [2, 4, 3, 1])
        let specs = [TensorSpec([2, 3, 5, 4], .float64), TensorSpec([4, 3, 3, 3], .float64), TensorSpec([4], .float64)]
        XCTAssertEqual(try Primitive.fused(program).outputSpecs(specs), [TensorSpec([2, 4, 3, 1], .float64)])
        XCTAssertThrowsError(try Primitive.fused(program).outputSpecs(Array(specs.prefix(2))), "the bias is missing")
        XCTAssertThrowsError(try Primitive.fused(activation([.tanh], config, domain: [2, 4, 3, 2])).outputSpecs(specs),
                             "the convolution's result is not domain-shaped")
        let inputs = compileInputs(specs.map(\.shape), dtype: .float64, seed: 33)
        checkGradients({ xs in Dispatch.run1(.fused(program), xs).square().sum() }, inputs)
    }

    // MARK: The pass

    /// A convolution merges with the activation that alone reads it, or with a residual add
    /// and the activations after; one read twice, or followed by anything else, stays.
    func testConvolutionFusionPass() {
        let specs = [TensorSpec([2, 16, 8, 8], .float32), TensorSpec([16, 16, 3, 3], .float32)]
        let graph = trace(specs) { xs in
            let conv = { (t: Tensor) in conv2d(t, weight: xs[1], padding: 1) }
            let a = conv(xs[0]).relu()                      // merged
            let b = conv(a).tanh().sigmoid()                // merged: a fused chain
            let c = conv(b)                                 // read twice: stays
            let d = conv(c.relu() + c).gelu() + b           // merged: GELU stays a unary op
            let e = (conv(d) + b).relu()                    // merged: a residual add, then relu
            let f = conv(e) + conv(d)                       // the first merges, the second is its residual
            return [(conv(f) * 2).relu()]                   // stays: not an add
        }
        let fused = ConvolutionFusion().run(ElementwiseFusion().run(graph))
        let heads = fused.operations.compactMap { operation -> String? in
            guard case .fused(let program) = operation.primitive, program.head != nil else { return nil }
            if let chain = program.unaryChain { return "activations \(chain.map { "\($0)" })" }
            if let (_, chain) = program.residualChain { return "residual \(chain.map { "\($0)" })" }
            return "other"
        }
        XCTAssertEqual(heads, ["activations [\"relu\"]", "activations [\"tanh\", \"sigmoid\"]", "activations [\"gelu\"]",
                               "residual [\"relu\"]", "residual []"], "\(fused)")
        XCTAssertEqual(fused.count { if case .conv2d = $0 { return true } else { return false } }, 3, "\(fused)")
        let x = compileInputs(specs.map(\.shape), seed: 34).enumerated().map { $0 == 1 ? $1 * 0.1 : $1 }
        assertClose(fused(x)[0], graph(x)[0], atol: 1e-4, rtol: 1e-4)
    }

    /// With fixed constants (inference) a captured weight is converted to oneDNN's layout on
    /// the first call and kept; without, every call reads the weight's current values.
    func testFixedWeightsAreConvertedOnceAndOthersReadEveryCall() {
        let inputs = compileInputs([[2, 16, 6, 6], [16, 16, 3, 3], [16, 16, 3, 3]], seed: 39)
        let (x, w, replacement) = (inputs[0], inputs[1].cloned(), inputs[2])
        let f = { (t: Tensor) in conv2d(t, weight: w, padding: 1).relu() }
        let fixed = compile(f, options: .inference), byReference = compile(f)
        let first = f(x)
        assertClose(fixed(x), first, atol: 1e-4, rtol: 1e-4)
        assertClose(fixed(x), first, atol: 1e-4, rtol: 1e-4, "the kept conversion")
        assertClose(byReference(x), first, atol: 1e-4, rtol: 1e-4)
        w.assign(replacement)
        assertClose(byReference(x), f(x), atol: 1e-4, rtol: 1e-4, "an in-place update is seen")
        assertClose(fixed(x), first, atol: 1e-4, rtol: 1e-4, "fixed values are snapshots")
    }

    // MARK: Channels-last layouts

    /// A small residual network: stem, max-pool, a block with an identity shortcut and one
    /// with a strided 1x1 shortcut, average pooling, and an intermediate image returned.
    static func residualNet(_ weights: [Tensor]) -> ([Tensor]) -> [Tensor] {
        { xs in
            let stem = conv2d(xs[0], weight: weights[0], stride: 2, padding: 1).relu()
            let pooled = maxPool2d(stem, kernelSize: 3, stride: 2, padding: 1)
            var y = conv2d(pooled, weight: weights[1], padding: 1).relu()
            let first = (conv2d(y, weight: weights[2], padding: 1) + pooled).relu()
            y = conv2d(first, weight: weights[3], stride: 2, padding: 1).relu()
            let second = (conv2d(y, weight: weights[4], padding: 1) + conv2d(first, weight: weights[5], stride: 2)).relu()
            let features = avgPool2d(second, kernelSize: 2).mean(axes: [2, 3])
            return [features, first]
        }
    }

    /// Compiled, the images between convolutions are channels-last, and the values match the
    /// eager run; what the function returns is row-major.
    func testResidualNetworkRunsChannelsLast() {
        let shapes = [[16, 3, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3], [32, 16, 3, 3], [32, 32, 3, 3], [32, 16, 1, 1]]
        let weights = compileInputs(shapes, seed: 35).enumerated().map { $1 * (1 / Double(shapes[$0].dropFirst().reduce(1, *)).squareRoot()) }
        let net = CompileConvolutionTests.residualNet(weights)
        let compiled = compile(net)
        let x = compileInputs([[2, 3, 32, 30]], seed: 36)
        let results = compiled(x), expected = net(x)
        for (result, reference) in zip(results, expected) {
            XCTAssertTrue(result.isContiguous, "returned values are row-major")
            assertClose(result, reference, atol: 1e-4, rtol: 1e-4)
        }
        let graph = compiled.graph(for: x)
        let plan = MemoryPlan(graph)
        // The stem's image, the pooled one, the first block's inner one, the second block's
        // inner one, its shortcut and its output, and that output average-pooled; the first
        // block's output is returned, so it stays row-major.
        XCTAssertEqual(plan.layouts.channelsLast.count, 7, "\(compiled.report(for: x))")
        // The second block adds its last convolution to the shortcut's memory.
        XCTAssertEqual(plan.inPlaceValues, 1, "\(compiled.report(for: x))")
        let report = compiled.report(for: x)
        XCTAssertTrue(report.contains("layout plan: 7 values channels-last") && report.contains("1 in place"), report)
    }

    /// An image read by an operation that wants row-major memory (a reshape into a matrix
    /// product here) stays row-major; one with few channels too.
    func testLayoutStaysRowMajorWhereItWouldCost() {
        let specs = [TensorSpec([2, 3, 8, 8], .float32), TensorSpec([16, 3, 3, 3], .float32), TensorSpec([8, 16, 3, 3], .float32),
                     TensorSpec([16 * 64, 5], .float32)]
        let f = { (xs: [Tensor]) -> [Tensor] in
            let a = conv2d(xs[0], weight: xs[1], padding: 1).relu()
            let b = conv2d(a, weight: xs[2], padding: 1)
            return [a.reshaped(to: [2, -1]).matmul(xs[3]), b.sum()]
        }
        let compiled = compile(f)
        let inputs = compileInputs(specs.map(\.shape), seed: 37)
        XCTAssertEqual(LayoutPlan(compiled.graph(for: inputs)).channelsLast.count, 0)
        for (result, reference) in zip(compiled(inputs), f(inputs)) { assertClose(result, reference, atol: 1e-3, rtol: 1e-4) }
    }

    /// Elementwise kernels and pooling write channels-last outputs in memory order, from
    /// inputs of either layout and per-channel operands.
    func testElementwiseAndPoolingKernelsWriteChannelsLast() {
        let inputs = compileInputs([[2, 16, 5, 7], [2, 16, 5, 7], [16, 1, 1]], seed: 38)
        let mixed = [channelsLast(inputs[0]), inputs[1], inputs[2]]
        let add = channelsLastOutput([2, 16, 5, 7])
        defaultBackend.execute(.binary(.add), inputs: [mixed[0], mixed[2]], outputs: [add])
        assertClose(add, inputs[0] + inputs[2], atol: 0, rtol: 0)
        let relu = channelsLastOutput([2, 16, 5, 7])
        defaultBackend.execute(.unary(.relu), inputs: [mixed[1]], outputs: [relu])
        assertClose(relu, inputs[1].relu(), atol: 0, rtol: 0)
        let program = FusedProgram(domain: [2, 16, 5, 7], operandCount: 3,
                                   instructions: [.binary(.mul, 0, 2), .binary(.add, 3, 1), .unary(.relu, 4)], outputs: [5, 3])
        let outputs = [channelsLastOutput([2, 16, 5, 7]), channelsLastOutput([2, 16, 5, 7])]
        defaultBackend.execute(.fused(program), inputs: mixed, outputs: outputs)
        for (output, reference) in zip(outputs, Fused.unfused(program, inputs)) { assertClose(output, reference, atol: 1e-6, rtol: 1e-6) }
        let config = PoolConfig(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
        for (primitive, reference) in [(Primitive.maxPool2d(config), maxPool2d(inputs[0], kernelSize: 3, stride: 2, padding: 1)),
                                       (.avgPool2d(config), avgPool2d(inputs[0], kernelSize: 3, stride: 2, padding: 1))] {
            let out = channelsLastOutput(reference.shape)
            defaultBackend.execute(primitive, inputs: [mixed[0]], outputs: [out])
            assertClose(out, reference, atol: 1e-6, rtol: 1e-6, primitive.name)
        }
    }

    // MARK: Winograd

    /// `CompileOptions.winograd` marks the float32 3×3 stride-1 convolutions only (a fused
    /// one keeps the mark), and the result stays within Winograd's rounding of the direct
    /// one. On a machine without oneDNN's Winograd kernel (no AVX-512) the marked
    /// convolutions run directly and the results are equal.
    func testWinogradMarksThreeByThreeStrideOneConvolutionsAndStaysClose() {
        let inputs = compileInputs([[2, 32, 14, 14], [32, 32, 3, 3], [32], [64, 32, 3, 3], [64, 64, 1, 1]], seed: 19)
        let (w1, b1, w2, w3) = (inputs[1] * 0.06, inputs[2] * 0.1, inputs[3] * 0.06, inputs[4] * 0.1)
        func net(_ x: Tensor, _ w1: Tensor, _ b1: Tensor, _ w2: Tensor, _ w3: Tensor) -> Tensor {
            let h = conv2d(x, weight: w1, bias: b1, padding: 1).relu() + x
            let s = conv2d(conv2d(h, weight: w1, padding: 1), weight: w2, stride: 2, padding: 1)
            return conv2d(s, weight: w3)
        }
        let f = { (xs: [Tensor]) in [net(xs[0], w1, b1, w2, w3)] }
        var options = CompileOptions.inference
        options.winograd = true
        let fast = compile(f, options: options), exact = compile(f, options: .inference)
        func configs(_ graph: Graph) -> [ConvConfig] {
            graph.operations.compactMap { operation in
                switch operation.primitive {
                case .conv2d(let config): return config
                case .fused(let program): if case .conv2d(let config, _) = program.head { return config }
                default: break
                }
                return nil
            }
        }
        XCTAssertEqual(configs(fast.graph(for: [inputs[0]])).map(\.winograd), [true, true, false, false])
        XCTAssertEqual(configs(exact.graph(for: [inputs[0]])).map(\.winograd), [false, false, false, false])
        let reference = net(inputs[0].cast(to: .float64), w1.cast(to: .float64), b1.cast(to: .float64), w2.cast(to: .float64),
                            w3.cast(to: .float64))
        let scale = reference.abs().max().item()
        let exactError = (exact([inputs[0]])[0].cast(to: .float64) - reference).abs().max().item() / scale
        let fastError = (fast([inputs[0]])[0].cast(to: .float64) - reference).abs().max().item() / scale
        print("Winograd: largest error relative to the largest output \(fastError), direct \(exactError)")
        XCTAssertLessThan(fastError, 1e-4)
    }
}
