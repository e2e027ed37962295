import XCTest
@testable import Ember

/// The trace interpreter: a function recorded as a graph of primitives, printed, and
/// replayed on new inputs through the dispatcher (so a replay is eager, differentiable and
/// bit-identical to running the function eagerly).
final class TraceTests: XCTestCase {
    /// A small model: a matmul, a broadcast bias, an activation, a reduction.
    static func model(_ xs: [Tensor]) -> [Tensor] {
        let hidden = (matmul(xs[0], xs[1]) + xs[2]).tanh()
        return [hidden.softmax(axis: -1), hidden.sum()]
    }

    func arguments(seed: UInt64) -> [Tensor] {
        let key = Key(seed).split(into: 3)
        return [Tensor.randomNormal([4, 3], source: .key(key[0])), Tensor.randomNormal([3, 5], source: .key(key[1])),
                Tensor.randomNormal([5], source: .key(key[2]))]
    }

    func testTraceRecordsPrimitivesWithoutComputing() {
        let graph = trace(like: arguments(seed: 1), TraceTests.model)
        XCTAssertEqual(graph.inputs.count, 3)
        XCTAssertEqual(graph.outputs.count, 2)
        XCTAssertEqual(graph.specs[graph.outputs[0]], TensorSpec([4, 5], .float32))
        XCTAssertEqual(graph.specs[graph.outputs[1]], TensorSpec([], .float32))
        let names = graph.operations.map(\.primitive.name)
        XCTAssertEqual(names.first, "matmul")
        XCTAssertTrue(names.contains("tanh") && names.contains("exp") && names.contains("div"), "\(names)")
    }

    /// The printed graph names every value, its primitive, operands and type.
    func testGraphPrintsReadably() {
        let graph = trace([TensorSpec([2, 3], .float32)]) { xs in [(xs[0].exp() * 2).sum(axis: 1)] }
        XCTAssertEqual("\(graph)", """
            graph(%0: float32[2, 3]) {
              %2 = constant : float32[]
              %1 = exp(%0) : float32[2, 3]
              %3 = mul(%1, %2) : float32[2, 3]
              %4 = reduce_sum(axes: [1])(%3) : float32[2]
              return %4
            }
            """)
    }

    /// Replaying on new inputs gives exactly (bit for bit) what running the function gives.
    func testReplayOnNewInputsEqualsEagerExactly() {
        let graph = trace(like: arguments(seed: 1), TraceTests.model)
        for seed in [2, 3] as [UInt64] {
            let inputs = arguments(seed: seed)
            let replayed = graph(inputs)
            let eager = TraceTests.model(inputs)
            for (r, e) in zip(replayed, eager) {
                XCTAssertEqual(r.shape, e.shape)
                XCTAssertEqual(r.floats.map(\.bitPattern), e.floats.map(\.bitPattern))
            }
        }
    }

    /// A tensor the function captures from outside becomes a constant of the graph, used by
    /// every replay.
    func testCapturedTensorsBecomeConstants() {
        let weights = Tensor([1, 10, 100] as [Float])
        let graph = trace([TensorSpec([3], .float32)]) { xs in [(xs[0] * weights).sum()] }
        XCTAssertEqual(graph.constants.count, 1)
        XCTAssertTrue(graph.constants.values.first === weights)
        XCTAssertEqual(graph([Tensor([1, 2, 3] as [Float])])[0].item(), 321)
        XCTAssertEqual(graph([Tensor([0, 0, 1] as [Float])])[0].item(), 100)
    }

    /// Tracing valueAndGrad records the backward pass as ordinary primitives, so the
    /// gradient can be replayed (or compiled, exported) like any function.
    func testTracingValueAndGradRecordsTheBackwardPass() {
        let f = { (x: Tensor) in (x.sin() * x).sum() }
        let graph = trace([TensorSpec([3], .float64)]) { xs in
            let (value, gradient) = valueAndGrad(f)(xs[0])
            return [value, gradient]
        }
        let forwardOnly = trace([TensorSpec([3], .float64)]) { xs in [f(xs[0])] }
        XCTAssertGreaterThan(graph.operations.count, forwardOnly.operations.count)
        XCTAssertTrue(graph.operations.contains { $0.primitive == .unary(.cos) }, "d/dx sin x = cos x is traced")
        let x = Tensor([0.5, -1, 2] as [Double])
        let (value, gradient) = valueAndGrad(f)(x)
        let replayed = graph([x])
        XCTAssertEqual(replayed[0].doubles, value.doubles)
        XCTAssertEqual(replayed[1].doubles, gradient.doubles)
    }

    /// A traced function that detaches a value (a stop-gradient) traces too.
    func testTracingThroughDetach() {
        let graph = trace([TensorSpec([2], .float32)]) { xs in [xs[0] * xs[0].detached()] }
        XCTAssertEqual(graph([Tensor([3, -2] as [Float])])[0].floats, [9, 4])
    }

    /// Replays go through the dispatcher, so the autograd tape records them.
    func testReplayIsDifferentiable() {
        let graph = trace([TensorSpec([2, 3], .float64)]) { xs in [(xs[0].exp() * xs[0]).sum(axis: 1)] }
        let x = Tensor([0.1, -0.2, 0.3, 1, 2, -3] as [Double]).reshaped(to: [2, 3])
        let replayed = grad { (t: Tensor) in graph([t])[0].sum() }(x)
        let eager = grad { (t: Tensor) in (t.exp() * t).sum() }(x)
        XCTAssertEqual(replayed.doubles, eager.doubles)
        checkGradients({ xs in graph(xs)[0].sum() }, [x])
    }
}
