import XCTest
@testable import Ember

/// The fused primitive's kernel against the same program run one primitive at a time,
/// and the fusion pass: fewer kernels, same values. Tolerances: float32 chains differ from
/// the unfused kernels only by the vector transcendental functions (a few ulp) and by the
/// order of reduction sums.
final class CompileFusionTests: XCTestCase {
    func assertKernelMatchesUnfused(_ program: FusedProgram, _ inputs: [Tensor], atol: Double = 1e-5, rtol: Double = 1e-5,
                                    file: StaticString = #filePath, line: UInt = #line) {
        let fused = Dispatch.run(.fused(program), inputs)
        let reference = Fused.unfused(program, inputs)
        XCTAssertEqual(fused.count, reference.count, file: file, line: line)
        for (f, r) in zip(fused, reference) {
            XCTAssertEqual(f.dtype, r.dtype, file: file, line: line)
            assertClose(f, r, atol: atol, rtol: rtol, file: file, line: line)
        }
    }

    /// gelu(x * w + b) with w and b broadcast along rows, two outputs, a tail-sized row.
    func testElementwiseProgramWithBroadcastOperands() {
        let inputs = compileInputs([[37, 45], [45], [1, 45]], seed: 1) + [Tensor.scalar(0.7071067811865476), Tensor.scalar(1), Tensor.scalar(0.5)]
        let program = FusedProgram(domain: [37, 45], operandCount: 6, instructions: [
            .binary(.mul, 0, 1), .binary(.add, 6, 2), .binary(.mul, 7, 3), .unary(.erf, 8),
            .binary(.add, 9, 4), .binary(.mul, 7, 10), .binary(.mul, 11, 5),
        ], outputs: [12, 7])
        assertKernelMatchesUnfused(program, inputs)
    }

    /// Every unary and binary operation, in float32 and float64, on a strided (transposed) operand.
    func testEveryOperationBothFloatTypes() {
        for dtype in [DType.float32, .float64] {
            let raw = compileInputs([[20, 33], [33, 20]], dtype: dtype, seed: 2)
            let inputs = [raw[0].abs() + 0.5, raw[1].transposed()]
            var instructions = [FusedProgram.Instruction]()
            for op in UnaryOp.allCases where op != .logicalNot { instructions.append(.unary(op, 0)) }
            for op in BinaryOp.allCases where ![.logicalAnd, .logicalOr, .logicalXor].contains(op) {
                instructions.append(.binary(op, 0, 1))
            }
            let program = FusedProgram(domain: [20, 33], operandCount: 2, instructions: instructions,
                                       outputs: Array(2..<(2 + instructions.count)))
            assertKernelMatchesUnfused(program, inputs, atol: 1e-5, rtol: dtype == .float32 ? 2e-5 : 1e-12)
        }
    }

    /// Comparisons, logic on bool registers, select and casts between bool and float.
    func testComparisonsSelectAndCasts() {
        let inputs = compileInputs([[300], [300]], seed: 3)
        let program = FusedProgram(domain: [300], operandCount: 2, instructions: [
            .compare(.greater, 0, 1), .compare(.lessEqual, 0, 1), .binary(.logicalXor, 2, 3), .unary(.logicalNot, 2),
            .select(2, 0, 1), .cast(.float32, 5), .binary(.mul, 7, 6), .cast(.bool, 0), .binary(.logicalAnd, 9, 3),
        ], outputs: [4, 6, 8, 10])
        assertKernelMatchesUnfused(program, inputs, atol: 0, rtol: 0)
    }

    /// Rows longer than a block (several full blocks and a partial one), with a row-broadcast
    /// and a column-broadcast operand, and a reduction over such rows.
    func testLongRowsRunInSeveralBlocks() {
        let inputs = compileInputs([[3, 2500], [2500], [3, 1]], seed: 12)
        let instructions: [FusedProgram.Instruction] = [.binary(.mul, 0, 1), .binary(.add, 3, 2), .unary(.tanh, 4)]
        assertKernelMatchesUnfused(FusedProgram(domain: [3, 2500], operandCount: 3, instructions: instructions, outputs: [5, 3]),
                                   inputs, atol: 1e-6, rtol: 1e-6)
        assertKernelMatchesUnfused(FusedProgram(domain: [3, 2500], operandCount: 3, instructions: instructions, outputs: [5],
                                                tail: .reduce(.sum, axes: [1], keepDims: false)),
                                   inputs, atol: 1e-3, rtol: 1e-5)
    }

    /// A reduction tail over every kind of axis set: trailing, leading, middle, all.
    func testReductionTails() {
        let inputs = compileInputs([[6, 70, 9], [70, 1]], seed: 4)
        for (op, axes, keep) in [(ReduceOp.sum, [2], false), (.sum, [0], true), (.max, [1], false), (.min, [0, 2], false),
                                 (.sum, [0, 1, 2], false), (.prod, [2], true)] {
            let program = FusedProgram(domain: [6, 70, 9], operandCount: 2,
                                       instructions: [.binary(.mul, 0, 1), .unary(.tanh, 2)], outputs: [3],
                                       tail: .reduce(op, axes: axes, keepDims: keep))
            assertKernelMatchesUnfused(program, inputs, atol: 1e-4, rtol: 1e-4)
        }
    }

    /// A large single-result sum is split across threads and still matches.
    func testWholeTensorReductionTail() {
        let inputs = compileInputs([[512, 300]], seed: 5)
        let program = FusedProgram(domain: [512, 300], operandCount: 1, instructions: [.binary(.mul, 0, 0)], outputs: [1],
                                   tail: .reduce(.sum, axes: [0, 1], keepDims: false))
        assertKernelMatchesUnfused(program, inputs, atol: 1e-2, rtol: 1e-5)
    }

    /// A layer-norm tail normalizes the program's value with the weight and bias after it.
    func testLayerNormTail() {
        for axes in [1, 2] {
            let inputs = compileInputs([[5, 6, 40], [40], Array([6, 40].suffix(axes)), Array([6, 40].suffix(axes))], seed: 6)
            let program = FusedProgram(domain: [5, 6, 40], operandCount: 2,
                                       instructions: [.binary(.add, 0, 1), .unary(.sigmoid, 2)], outputs: [3],
                                       tail: .layerNorm(axes: axes, epsilon: 1e-5))
            assertKernelMatchesUnfused(program, inputs, atol: 1e-4, rtol: 1e-4)
        }
    }

    /// The shape rule rejects operands that do not broadcast to the domain.
    func testShapeRuleRejectsBadOperands() {
        let program = FusedProgram(domain: [4, 3], operandCount: 1, instructions: [.unary(.exp, 0)], outputs: [1])
        XCTAssertThrowsError(try Primitive.fused(program).outputSpecs([TensorSpec([4, 2], .float32)]))
        XCTAssertThrowsError(try Primitive.fused(program).outputSpecs([TensorSpec([3], .float32)]), "exp of a row is not domain-shaped")
        XCTAssertEqual(try Primitive.fused(program).outputSpecs([TensorSpec([4, 3], .float64)]), [TensorSpec([4, 3], .float64)])
    }

    /// Gradients flow through a fused operation (its rule differentiates the unfused
    /// program), to first and second order.
    func testFusedGradients() {
        let program = FusedProgram(domain: [3, 4], operandCount: 2,
                                   instructions: [.binary(.mul, 0, 1), .unary(.tanh, 2), .binary(.mul, 3, 0)], outputs: [4],
                                   tail: .reduce(.sum, axes: [1], keepDims: false))
        let inputs = compileInputs([[3, 4], [4]], dtype: .float64, seed: 7)
        checkGradients({ xs in Dispatch.run1(.fused(program), xs).sum() }, inputs)
        let secondOrder = grad { (x: Tensor) in grad { (y: Tensor) in Dispatch.run1(.fused(program), [y, inputs[1]]).sum() }(x).sum() }
        let reference = grad { (x: Tensor) in grad { (y: Tensor) in ((y * inputs[1]).tanh() * y).sum() }(x).sum() }
        assertClose(secondOrder(inputs[0]), reference(inputs[0]), atol: 1e-12, rtol: 1e-10)
    }

    // MARK: The pass

    static func geluLayerNorm(_ xs: [Tensor]) -> [Tensor] {
        [layerNorm((xs[0] * xs[1] + xs[2]).gelu(), normalizedShape: [xs[0].shape[1]])]
    }

    /// W8's chain becomes one fused operation with a layer-norm tail (float64 here: in
    /// float32 GELU stays oneDNN's kernel, see the next test).
    func testFusionOfW8Chain() {
        let inputs = compileInputs([[64, 96], [96], [96]], dtype: .float64, seed: 8)
        let graph = trace(like: inputs, CompileFusionTests.geluLayerNorm)
        let fused = ElementwiseFusion().run(graph)
        // multiply, add, gelu, layer norm
        XCTAssertEqual(graph.kernelCount, 4)
        XCTAssertEqual(fused.kernelCount, 1, "\(fused)")
        XCTAssertEqual(fused.fusedCount, 1)
        let fresh = compileInputs([[64, 96], [96], [96]], dtype: .float64, seed: 9)
        assertClose(fused(fresh)[0], graph(fresh)[0], atol: 1e-12, rtol: 1e-12)
    }

    /// In float32 the multiply-add fuses, while GELU and layer norm stay oneDNN kernels.
    func testFloat32GeluStaysOneDNNs() {
        let inputs = compileInputs([[64, 96], [96], [96]], seed: 8)
        let graph = trace(like: inputs, CompileFusionTests.geluLayerNorm)
        let fused = ElementwiseFusion().run(graph)
        XCTAssertEqual(fused.kernelCount, 3, "\(fused)")
        XCTAssertEqual(fused.fusedCount, 1)
        XCTAssertEqual(fused.count { $0 == .unary(.gelu) }, 1)
        let fresh = compileInputs([[64, 96], [96], [96]], seed: 9)
        assertClose(fused(fresh)[0], graph(fresh)[0], atol: 1e-5, rtol: 1e-5)
    }

    /// mean(x * x) is a fused reduction: x * x is never a tensor of its own.
    func testReductionOfChainIsFused() {
        let graph = trace([TensorSpec([50, 40], .float32)]) { xs in [(xs[0] * xs[0]).mean()] }
        let fused = ElementwiseFusion().run(graph)
        XCTAssertEqual(graph.kernelCount, 3)
        XCTAssertEqual(fused.kernelCount, 2, "the reduction absorbs the product; the division by n stays: \(fused)")
        XCTAssertEqual(fused.count { $0.name.hasPrefix("reduce") }, 0)
        let x = compileInputs([[50, 40]], seed: 10)
        assertClose(fused(x)[0], graph(x)[0], atol: 1e-6, rtol: 1e-5)
    }

    /// A value read both inside and outside a group is one of its results; an operation
    /// that reads a group's result through a non-elementwise operation is not merged into
    /// it (that would be a cycle), and the graph stays in a valid order.
    func testFusionRespectsDependencies() {
        let graph = trace([TensorSpec([8, 8], .float32)]) { xs in
            let a = xs[0].exp()
            let m = matmul(a, a)
            return [(a + m).relu(), a.sin()]
        }
        let fused = ElementwiseFusion().run(graph)
        XCTAssertLessThan(fused.kernelCount, graph.kernelCount)
        let x = compileInputs([[8, 8]], seed: 11)
        for (f, g) in zip(fused(x), graph(x)) { assertClose(f, g, atol: 1e-5, rtol: 1e-5) }
    }

    /// Operations of other dtypes (integers) and shapes are left alone.
    func testFusionLeavesUnfusibleOperations() {
        let graph = trace([TensorSpec([4], .int64), TensorSpec([4], .float32)]) { xs in
            [(xs[0] + xs[0]) * xs[0], xs[1].exp()]
        }
        let fused = ElementwiseFusion().run(graph)
        XCTAssertEqual(fused.fusedCount, 0)
        XCTAssertEqual(fused.operations.count, graph.operations.count)
    }
}
