import XCTest
@testable import Ember
@testable import EmberModels
@testable import EmberNN

/// Tensors made inside traced functions (constants, ranges, masks, random draws) and state
/// that traced functions read and write: what used to crash a release build.
final class TracedCreationTests: XCTestCase {
    func testConstantsMadeInsideACompiledFunction() {
        let f = compile { (x: Tensor) in x + Tensor(doubles: [1, 2, 3], dtype: .float32) }
        let x = Tensor([10, 20, 30] as [Float])
        XCTAssertEqual(f(x).floats, [11, 22, 33])
        XCTAssertEqual(f(x).floats, [11, 22, 33])
        let ranges = compile { (x: Tensor) in
            x + Tensor.arange(3, dtype: .float32) + Tensor.linspace(from: 0, through: 1, count: 3)
                + Tensor.eye(3).sum(axis: 0) + Tensor.full([3], 0.5)
        }
        XCTAssertEqual(ranges(x).floats, [11.5, 23, 34.5])
        let (_, tangent) = jvp({ (x: Tensor) in x * Tensor(doubles: [1, 2, 3], dtype: .float32) }, primal: x, tangent: Tensor.ones([3]))
        XCTAssertEqual(tangent.floats, [1, 2, 3])
        let batched = vmap { (row: Tensor) in row + Tensor(doubles: [1, 2], dtype: .float32) }(Tensor([[0, 0], [10, 10]] as [[Float]]))
        XCTAssertEqual(batched.floats, [1, 2, 11, 12])
    }

    /// manualSeed, then compiled calls draw what eager calls draw, and advance the generator alike.
    func testCompiledDrawsFollowTheGlobalGenerator() {
        let draw = { (x: Tensor) in x + Tensor.randomNormal([4]) * Tensor.bernoulli([4], probability: 0.5) + Tensor.randomUniform([4]) }
        let x = Tensor.zeros([4])
        manualSeed(7)
        let eager = (0..<3).map { _ in draw(x).floats }
        let after = Tensor.randomUniform([2]).floats
        manualSeed(7)
        let compiled = compile(draw)
        let traced = (0..<3).map { _ in compiled(x).floats }
        XCTAssertEqual(Tensor.randomUniform([2]).floats, after, "the compiled calls advanced the generator as eager ones")
        XCTAssertEqual(compiled.traceCount, 1)
        for (e, c) in zip(eager, traced) { XCTAssertEqual(e, c) }
        XCTAssertNotEqual(traced[0], traced[1], "every call draws fresh numbers")
    }

    func testDropoutCompiledInTrainingMode() {
        let dropout = Dropout(probability: 0.5)
        let x = Tensor.ones([64])
        manualSeed(3)
        let eager = [dropout(x).floats, dropout(x).floats]
        manualSeed(3)
        let compiled = compile { dropout($0) }
        XCTAssertEqual([compiled(x).floats, compiled(x).floats], eager)
        XCTAssertTrue(eager[0].contains(0) && eager[0].contains(2))
    }

    /// Under vmap each example draws what the same call in a loop over the examples would.
    func testVmapDrawsLikeALoop() {
        let f = { (x: Tensor) in x + Tensor.randomNormal([3]) }
        let xs = Tensor.zeros([4, 3])
        manualSeed(11)
        let loop = (0..<4).map { i in f(xs[i]).floats }
        manualSeed(11)
        let batched = vmap(f)(xs)
        for i in 0..<4 { XCTAssertEqual(batched[i].floats, loop[i]) }
    }

    func testSmallGPTCompiledInEvalMode() {
        manualSeed(0)
        let model = GPT(GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)).eval()
        let tokens = Tensor([[1, 2, 3, 4], [5, 6, 7, 8]] as [[Int64]])
        let compiled = compile { model($0) }
        assertClose(compiled(tokens), model(tokens), atol: 1e-5, rtol: 1e-5)
    }

    func testVmapOverCausalAttention() {
        manualSeed(0)
        let attention = MultiHeadAttention(embedDim: 8, numHeads: 2, batchFirst: true)
        let x = Tensor.randomNormal([3, 5, 8])
        let batched = vmap { (x: Tensor) in attention(query: x, key: x, value: x, isCausal: true).output }(x)
        for i in 0..<3 {
            let one = attention(query: x[i], key: x[i], value: x[i], isCausal: true).output
            assertClose(batched[i], one, atol: 1e-5, rtol: 1e-5)
        }
    }

    /// A tensor the function makes is its own in every call; an assignment is a copy of
    /// values, so no derivative flows through what was assigned (as eagerly).
    func testAssignmentsInsideACompiledFunction() {
        let counter = compile { (x: Tensor) in
            let state = Tensor.zeros([1])
            state.assign(state + 1)
            return x + state
        }
        let x = Tensor([0] as [Float])
        XCTAssertEqual([counter(x).floats, counter(x).floats], [[1], [1]])
        let buffer = Tensor.zeros([1], dtype: .float64)
        let f = { (w: Tensor) -> Tensor in
            buffer.assign(w * 3)
            return (buffer * w).sum()
        }
        let w = Tensor([2] as [Double])
        XCTAssertEqual(grad(f)(w).doubles, [6])
        XCTAssertEqual(grad { compile { [f($0[0])] }([$0])[0] }(w).doubles, [6])
        XCTAssertEqual(buffer.doubles, [6])
        // Values of captured tensors can be read while tracing: they are known.
        let table = Tensor([1, 2] as [Int64])
        XCTAssertEqual(jvp({ $0 * table.doubles[1] }, primal: w, tangent: Tensor([1] as [Double])).tangent.doubles, [2])
    }

    /// A batch norm's running statistics are updated by compiled calls as by eager ones.
    func testCompiledBatchNormUpdatesItsRunningStatistics() {
        for momentum in [0.1, nil] as [Double?] {
            manualSeed(0)
            let eager = BatchNorm1d(3, momentum: momentum), traced = BatchNorm1d(3, momentum: momentum)
            let compiled = compile { traced($0) }
            for _ in 0..<3 {
                let x = Tensor.randomNormal([8, 3])
                assertClose(compiled(x), eager(x), atol: 1e-6, rtol: 1e-6)
            }
            assertClose(traced.runningMean!, eager.runningMean!, atol: 1e-6, rtol: 1e-6)
            assertClose(traced.runningVar!, eager.runningVar!, atol: 1e-6, rtol: 1e-6)
            XCTAssertEqual(traced.numBatchesTracked!.item(), 3)
        }
    }
}
