import XCTest
@testable import Ember

/// Each graph pass on its own: the rewritten graph computes what the original does on
/// fresh random inputs, and the pass does what it claims (fewer operations, merged
/// duplicates, folded constants, no batch-norm chain, fewer buffers).
final class CompilePassTests: XCTestCase {
    func assertSameResults(_ rewritten: Graph, _ original: Graph, _ inputs: [Tensor], atol: Double = 1e-5, rtol: Double = 1e-5,
                           file: StaticString = #filePath, line: UInt = #line) {
        for (r, o) in zip(rewritten(inputs), original(inputs)) { assertClose(r, o, atol: atol, rtol: rtol, file: file, line: line) }
    }

    func testDeadCodeEliminationRemovesUnusedOperationsAndConstants() {
        let unused = Tensor([1, 2, 3] as [Float])
        let graph = trace([TensorSpec([3], .float32)]) { xs in
            _ = (xs[0] * unused).exp()
            _ = xs[0].sin()
            return [xs[0] + 1]
        }
        let result = DeadCodeElimination().run(graph)
        XCTAssertEqual(graph.operations.count, 4)
        XCTAssertEqual(result.operations.map(\.primitive), [.binary(.add)])
        XCTAssertEqual(result.constants.count, 1, "only the literal 1 is still read")
        assertSameResults(result, graph, compileInputs([[3]], seed: 1), atol: 0, rtol: 0)
    }

    func testCommonSubexpressionEliminationMergesDuplicates() {
        let graph = trace([TensorSpec([5], .float32), TensorSpec([5], .float32)]) { xs in
            let a = xs[0] * xs[1], b = xs[1] * xs[0]   // commutative: the same product
            let c = xs[0].exp(), d = xs[0].exp()
            return [a + b, c * d, xs[0] - xs[1], xs[1] - xs[0]]
        }
        let result = CommonSubexpressionElimination().run(graph)
        XCTAssertEqual(graph.operations.count, 8)
        XCTAssertEqual(result.operations.count, 6, "one product and one exp merged; sub is not commutative")
        assertSameResults(result, graph, compileInputs([[5], [5]], seed: 2), atol: 0, rtol: 0)
    }

    /// Equal literal constants merge only when captured values are declared fixed.
    func testEqualConstantsMergeOnlyWhenFixed() {
        let graph = trace([TensorSpec([5], .float32)]) { xs in [xs[0] * 2 + xs[0] * 2] }
        XCTAssertEqual(CommonSubexpressionElimination().run(graph).operations.count, 3)
        let merged = CommonSubexpressionElimination(mergeEqualConstants: true).run(graph)
        XCTAssertEqual(merged.operations.count, 2)
        XCTAssertEqual(merged.constants.count, 1)
        assertSameResults(merged, graph, compileInputs([[5]], seed: 3), atol: 0, rtol: 0)
    }

    func testConstantFoldingEvaluatesConstantSubgraphs() {
        let w = Tensor.randomNormal([3, 4], source: .key(Key(4)))
        let graph = trace([TensorSpec([2, 3], .float32)]) { xs in [matmul(xs[0], (w.transposed().exp() * 2).transposed())] }
        let folded = ConstantFolding().run(graph)
        XCTAssertEqual(graph.operations.count, 5)
        XCTAssertEqual(folded.operations.map(\.primitive), [.matmul], "only the operation on the input is left")
        assertSameResults(folded, graph, compileInputs([[2, 3]], seed: 5))
    }

    /// conv2d followed by eval-mode batch norm (and a scale) becomes one convolution.
    func testBatchNormFoldingLeavesOnlyTheConvolution() {
        let keys = Key(6).split(into: 6)
        let weight = Tensor.randomNormal([4, 3, 3, 3], source: .key(keys[0]))
        let bias = Tensor.randomNormal([4], source: .key(keys[1]))
        let mean = Tensor.randomNormal([4], source: .key(keys[2]))
        let variance = Tensor.randomUniform([4], low: 0.5, high: 2, source: .key(keys[3]))
        let gamma = Tensor.randomNormal([4], source: .key(keys[4])), beta = Tensor.randomNormal([4], source: .key(keys[5]))
        let graph = trace([TensorSpec([2, 3, 8, 8], .float32)]) { xs in
            let y = conv2d(xs[0], weight: weight, bias: bias, padding: 1)
            let normalized = batchNorm(y, runningMean: mean, runningVariance: variance, weight: gamma, bias: beta, training: false).output
            return [(normalized / 2).relu()]
        }
        let prepared = ConstantFolding().run(graph)
        let folded = BatchNormFolding().run(prepared)
        XCTAssertEqual(folded.count { if case .conv2d = $0 { return true } else { return false } }, 1)
        XCTAssertEqual(folded.operations.map(\.primitive.name).filter { $0 != "relu" }.count, 1,
                       "no subtract, multiply, add or divide is left: \(folded)")
        assertSameResults(folded, graph, compileInputs([[2, 3, 8, 8]], seed: 7), atol: 1e-4, rtol: 1e-4)
    }

    /// A chain whose value is also read elsewhere, or with a non-per-channel operand, is not folded.
    func testBatchNormFoldingKeepsNonAffineChains() {
        let weight = Tensor.randomNormal([4, 3, 1, 1], source: .key(Key(8)))
        let map = Tensor.randomNormal([1, 4, 5, 5], source: .key(Key(9)))
        let graph = trace([TensorSpec([1, 3, 5, 5], .float32)]) { xs in [conv2d(xs[0], weight: weight) * map] }
        let folded = BatchNormFolding().run(graph)
        XCTAssertEqual(folded.operations.count, graph.operations.count)
    }

    /// The plan computes an eight-step chain in two alternating buffers; outputs get their own.
    func testMemoryPlanReusesBuffers() {
        let graph = trace([TensorSpec([64, 64], .float32)]) { xs in
            var y = xs[0]
            for k in 0..<8 { y = matmul(y, xs[0]) + Double(k) }
            return [y, y.sum()]
        }
        let plan = MemoryPlan(graph)
        XCTAssertEqual(plan.computedValues, 17)
        XCTAssertEqual(plan.slotSizes.count, 2, "\(plan)")
        XCTAssertEqual(plan.slotOf.count, 15, "the two outputs are not in reused buffers")
        let executor = Executor(graph, plan)
        let x = compileInputs([[64, 64]], seed: 10)[0] * 0.1
        for _ in 0..<2 {
            let results = executor.run([x])
            for (r, o) in zip(results, graph([x])) { assertClose(r, o, atol: 1e-4, rtol: 1e-4) }
        }
    }

    /// Returned tensors never share memory with the reused buffers, nor with each other,
    /// even when an output is a view of an intermediate value.
    func testOutputsNeverAliasReusedBuffers() {
        let graph = trace([TensorSpec([4, 6], .float32)]) { xs in
            let e = xs[0].exp()
            return [e.reshaped(to: [24]), (e * 2).transposed(), e.sum(axis: 0)]
        }
        let plan = MemoryPlan(graph)
        let executor = Executor(graph, plan)
        let x = compileInputs([[4, 6]], seed: 11)[0]
        let first = executor.run([x])
        let saved = first.map(\.doubles)
        _ = executor.run([x * 3])
        XCTAssertEqual(first.map(\.doubles), saved, "a later call must not overwrite earlier results")
        XCTAssertEqual(Set(first.map { ObjectIdentifier($0.storage) }).count, 3)
    }

    /// A result's memory is used again once the caller has let go of every tensor on it.
    func testReleasedResultsAreRecycled() {
        let graph = trace([TensorSpec([4, 6], .float32)]) { xs in [xs[0].exp() * 2] }
        let executor = Executor(graph, MemoryPlan(graph))
        let x = compileInputs([[4, 6]], seed: 12)[0]
        let dropped = ObjectIdentifier(executor.run([x])[0].storage)
        let held = executor.run([x])[0]
        XCTAssertEqual(ObjectIdentifier(held.storage), dropped)
        let next = executor.run([x * 2])[0]
        XCTAssertNotEqual(ObjectIdentifier(next.storage), dropped, "held memory is not reused")
        assertClose(held, (x.exp() * 2))
        assertClose(next, ((x * 2).exp() * 2))
    }
}
