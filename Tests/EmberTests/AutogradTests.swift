import XCTest
@testable import Ember

/// The tape (backward, grad accumulation, hooks, retainGrad, noGrad, detach) and the
/// functional transforms (grad, valueAndGrad, vjp), including derivatives of derivatives.
/// Expected values are worked out by hand in the comments, or checked against float64
/// finite differences.
final class AutogradTests: XCTestCase {
    func testSecondDerivative() {
        // d2/dx2 sum(x^3) = 6x
        let x = Tensor([1, -2, 3] as [Double])
        let g2 = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }(x)
        assertClose(g2, [6, -12, 18])
    }

    // MARK: backward

    /// y = sum(x^2): dy/dx = 2x, seeded with 1 for a scalar.
    func testBackwardOfAScalar() {
        let x = Tensor([1, -2, 3] as [Double]).requiringGrad()
        let y = (x * x).sum()
        XCTAssertTrue(y.requiresGrad)
        XCTAssertFalse(y.isLeaf)
        y.backward()
        assertClose(x.grad!, [2, -4, 6], atol: 0, rtol: 0)
        XCTAssertNil(y.grad, "non-leaves keep no gradient unless asked to")
    }

    /// A non-scalar output needs its cotangent: y = 3x with gradient [1, 10, 100] gives 3 * it.
    func testBackwardWithAnOutputGradient() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        (x * 3).backward(Tensor([1, 10, 100] as [Float]))
        assertClose(x.grad!, [3, 30, 300], atol: 0, rtol: 0)
    }

    /// Gradients add up over backward calls until cleared, as in PyTorch.
    func testGradientsAccumulateAcrossBackwardCallsUntilZeroGrad() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = (x * x).sum()
        y.backward()
        y.backward()
        assertClose(x.grad!, [4, 8], atol: 0, rtol: 0)
        x.zeroGrad()
        XCTAssertNil(x.grad)
        (x * 5).sum().backward()
        assertClose(x.grad!, [5, 5], atol: 0, rtol: 0)
    }

    /// z = x * y + x: x is used twice (dz/dx = y + 1), y once (dz/dy = x).
    func testGradientsOfSeveralLeavesAndRepeatedUses() {
        let x = Tensor([2, 3] as [Double]).requiringGrad(), y = Tensor([5, 7] as [Double]).requiringGrad()
        (x * y + x).sum().backward()
        assertClose(x.grad!, [6, 8], atol: 0, rtol: 0)
        assertClose(y.grad!, [2, 3], atol: 0, rtol: 0)
    }

    /// a [3] + b [2, 3] * c [2, 1]: each gradient is summed back to its operand's shape.
    func testBroadcastingIsReducedInBackward() {
        let a = Tensor([1, 2, 3] as [Double]).requiringGrad()
        let b = Tensor([[1, 2, 3], [4, 5, 6]] as [[Double]]).requiringGrad()
        let c = Tensor([[10], [100]] as [[Double]]).requiringGrad()
        (a + b * c).sum().backward()
        XCTAssertEqual(a.grad?.shape, [3])
        assertClose(a.grad!, [2, 2, 2], atol: 0, rtol: 0)
        assertClose(b.grad!, [10, 10, 10, 100, 100, 100], atol: 0, rtol: 0)
        XCTAssertEqual(c.grad?.shape, [2, 1])
        assertClose(c.grad!, [6, 15], atol: 0, rtol: 0)
    }

    /// With createGraph the gradient is itself differentiable: x.grad = 3x^2, then 6x.
    func testBackwardWithCreateGraph() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        (x * x * x).sum().backward(createGraph: true)
        let first = x.grad!
        XCTAssertTrue(first.requiresGrad)
        assertClose(first, [3, 12], atol: 0, rtol: 0)
        x.zeroGrad()
        first.sum().backward()
        assertClose(x.grad!, [6, 12], atol: 0, rtol: 0)
    }

    // MARK: noGrad, detach, integer outputs

    func testNoGradRecordsNothing() {
        let x = Tensor([1, 2] as [Float]).requiringGrad()
        XCTAssertTrue(isGradEnabled)
        let y = noGrad { () -> Tensor in
            XCTAssertFalse(isGradEnabled)
            return x * 2
        }
        XCTAssertTrue(isGradEnabled)
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertTrue((x * 2).requiresGrad)
    }

    /// detach() gives a leaf with the same storage and no history; gradients stop there.
    func testDetach() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = x * 3
        let d = y.detached()
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.storage === y.storage)
        (x * d).sum().backward()
        assertClose(x.grad!, [3, 6], atol: 0, rtol: 0, "d is a constant")
    }

    func testIntegerResultsAreNotDifferentiable() {
        let x = Tensor([1, 3, 2] as [Float]).requiringGrad()
        XCTAssertFalse(x.argmax().requiresGrad)
        XCTAssertFalse((x .> 1).requiresGrad)
        XCTAssertFalse(x.cast(to: .int64).requiresGrad)
        XCTAssertTrue(x.cast(to: .float64).requiresGrad)
    }

    // MARK: Hooks and retainGrad

    /// A leaf's hook runs once, on the gradient summed over all uses, and may replace it.
    func testLeafHookSeesTheSummedGradientAndCanReplaceIt() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        var seen = [[Double]]()
        x.registerHook { g in
            seen.append(g.doubles)
            return g * 10
        }
        (x * 2 + x * 3).sum().backward()
        XCTAssertEqual(seen, [[5, 5]])
        assertClose(x.grad!, [50, 50], atol: 0, rtol: 0)
    }

    /// A hook on an intermediate value changes what flows to everything before it; a hook
    /// returning nil only observes.
    func testNonLeafHookReplacesTheGradientUpstream() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = x * 2
        var observed: [Double]?
        y.registerHook { g in
            observed = g.doubles
            return nil
        }
        y.registerHook { g in g * Tensor([100, -1] as [Double]) }
        (y * y).sum().backward()
        XCTAssertEqual(observed, [4, 8], "2y")
        assertClose(x.grad!, [800, -16], atol: 0, rtol: 0, "hooked 2y, times dy/dx = 2")
    }

    /// A callback queued from a hook runs once the whole pass is done: every leaf's
    /// gradient is accumulated by then, whichever hook queued it.
    func testCallbackQueuedFromAHookRunsAfterTheWholeBackwardPass() {
        let a = Tensor([1, 2] as [Double]).requiringGrad()
        let b = Tensor([3] as [Double]).requiringGrad()
        var gradientsAtEnd: [[Double]?] = []
        a.registerHook { _ in
            queueBackwardCallback { gradientsAtEnd = [a.grad?.doubles, b.grad?.doubles] }
            return nil
        }
        (a * b).sum().backward()
        XCTAssertEqual(gradientsAtEnd.count, 2, "the callback ran once")
        XCTAssertEqual(gradientsAtEnd[0], [3, 3])
        XCTAssertEqual(gradientsAtEnd[1], [3])
        // The next pass starts with an empty queue.
        gradientsAtEnd = []
        (b * 2).sum().backward()
        XCTAssertEqual(gradientsAtEnd.count, 0)
    }

    func testRetainGrad() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = x * 3
        let z = y * y
        y.retainGrad()
        y.retainGrad()
        z.sum().backward()
        assertClose(y.grad!, [6, 12], atol: 0, rtol: 0, "2y, once however often retainGrad is called")
        XCTAssertNil(z.grad)
        assertClose(x.grad!, [18, 36], atol: 0, rtol: 0)
    }

    // MARK: Views

    /// Gradients flow through views into the right elements of their base: a transpose,
    /// a slice, a reshape and an expand in one chain.
    func testGradientFlowsThroughViews() {
        let x = Tensor(doubles: (0..<6).map(Double.init), shape: [2, 3], dtype: .float64).requiringGrad()
        let t = x.transposed()          // [3, 2]
        let s = t[1..<3]                // rows 1, 2 of the transpose: x[:, 1:3]
        let r = s.reshaped(to: [4])     // x[0,1], x[1,1], x[0,2], x[1,2]
        let e = r.expanded(to: [2, 4])  // used twice
        (e * Tensor([1, 2, 3, 4] as [Double])).sum().backward()
        assertClose(x.grad!, [0, 2, 6, 0, 4, 8], atol: 0, rtol: 0)
        checkGradients({ xs in (xs[0].transposed()[1..<3].reshaped(to: [4]).expanded(to: [2, 4]) * xs[0].sum()).sum() },
                       [x.detached()])
    }

    // MARK: Functional transforms

    func testGradAndValueAndGradOfOneTensor() {
        let f = { (x: Tensor) in (x.sin() * x).sum() }
        let x = Tensor([0.5, -1, 2] as [Double])
        let (value, gradient) = valueAndGrad(f)(x)
        let xs = x.doubles
        XCTAssertEqual(value.item(), xs.map { Foundation.sin($0) * $0 }.reduce(0, +), accuracy: 1e-15)
        assertClose(gradient, xs.map { Foundation.cos($0) * $0 + Foundation.sin($0) }, atol: 1e-15, rtol: 0)
        assertClose(grad(f)(x), gradient.doubles, atol: 0, rtol: 0)
        XCTAssertFalse(value.requiresGrad)
        XCTAssertFalse(x.requiresGrad, "the argument is not modified")
    }

    /// f(a, b, c) = sum(a * b) + 0 * ... : c is unused and gets zeros.
    func testGradOfSeveralTensors() {
        let a = Tensor([1, 2] as [Double]), b = Tensor([3, 4] as [Double]), c = Tensor([5] as [Double])
        let (value, grads) = valueAndGrad { (xs: [Tensor]) in (xs[0] * xs[1]).sum() + xs[0].sum() }([a, b, c])
        XCTAssertEqual(value.item(), 14)
        assertClose(grads[0], [4, 5], atol: 0, rtol: 0)
        assertClose(grads[1], [1, 2], atol: 0, rtol: 0)
        assertClose(grads[2], [0], atol: 0, rtol: 0)
        XCTAssertEqual(grad { (xs: [Tensor]) in xs[1].sum() }([a, b]).map(\.doubles), [[0, 0], [1, 1]])
    }

    /// vjp of f(x, y) = x * y (non-scalar) with cotangent v: (v * y, v * x).
    func testVJP() {
        let x = Tensor([1, 2, 3] as [Double]), y = Tensor([4, 5, 6] as [Double])
        let (value, pullback) = vjp({ (xs: [Tensor]) in xs[0] * xs[1] }, [x, y])
        assertClose(value, [4, 10, 18], atol: 0, rtol: 0)
        let v = Tensor([1, 0, -1] as [Double])
        let grads = pullback(v)
        assertClose(grads[0], [4, 0, -6], atol: 0, rtol: 0)
        assertClose(grads[1], [1, 0, -3], atol: 0, rtol: 0)
        let (square, pullbackOne) = vjp({ (t: Tensor) in t * t }, x)
        assertClose(square, [1, 4, 9], atol: 0, rtol: 0)
        assertClose(pullbackOne(v), [2, 0, -6], atol: 0, rtol: 0)
    }

    /// A function that does not depend on its argument has a zero gradient.
    func testGradOfAConstantFunctionIsZero() {
        let (value, gradient) = valueAndGrad { (_: Tensor) in Tensor.scalar(3, dtype: .float64) }(Tensor([1, 2] as [Double]))
        XCTAssertEqual(value.item(), 3)
        XCTAssertEqual(gradient.doubles, [0, 0])
    }

    /// gradients(of:withRespectTo:) leaves every grad untouched (torch.autograd.grad).
    func testGradientsDoesNotTouchGrad() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let found = gradients(of: [(x * x).sum()], withRespectTo: [x])
        assertClose(found[0], [2, 4], atol: 0, rtol: 0)
        XCTAssertNil(x.grad)
    }

    /// Second derivatives of several primitives: the Hessian-vector product
    /// d/dx <w, grad(sum(v * f))(x)> against float64 finite differences of the first
    /// derivative. Every derivative rule is itself written in differentiable tensor ops.
    func testSecondDerivativesOfPrimitives() {
        let x = Tensor([0.7, -0.4, 1.3, 0.2, -1.1, 0.9] as [Double]).reshaped(to: [2, 3])
        let positive = x.abs() + 0.5
        let v = Tensor([0.3, -1.2, 0.8, 0.5, 1.1, -0.6] as [Double]).reshaped(to: [2, 3])
        let w = Tensor([1.5, 0.2, -0.7, 0.9, -0.3, 0.4] as [Double]).reshaped(to: [2, 3])
        let m = Tensor([0.5, -1, 2, 0.3, 0.7, -0.2] as [Double]).reshaped(to: [3, 2])
        let functions: [(String, Tensor, (Tensor) -> Tensor)] = [
            ("exp", x, { $0.exp() }), ("log", positive, { $0.log() }), ("sqrt", positive, { $0.sqrt() }),
            ("rsqrt", positive, { $0.rsqrt() }), ("sin", x, { $0.sin() }), ("cos", x, { $0.cos() }),
            ("tanh", x, { $0.tanh() }), ("sigmoid", x, { $0.sigmoid() }), ("erf", x, { $0.erf() }),
            ("gelu", x, { $0.gelu() }), ("div", x, { 1 / ($0 * $0 + 1) }), ("pow", positive, { pow($0, $0) }),
            ("softmax", x, { $0.softmax(axis: 1) }), ("logSumExp", x, { $0.logSumExp(axes: [0]).expanded(to: [2, 3]) }),
            ("variance", x, { $0.variance(axis: 1, keepDims: true) * $0 }), ("prod", x, { $0.prod(axis: 0, keepDims: true) * $0 }),
            ("matmul", x, { matmul(matmul($0, m).tanh(), m.transposed()) }),
            ("max", x, { $0.max(axis: 1, keepDims: true) * $0 }),
            ("movement", x, { Tensor.concatenate([$0.flipped(axes: [1]), $0.padded([Padding(0, 0), Padding(1, -1)])], axis: 0)[0..<2] * $0 }),
        ]
        for (name, input, f) in functions {
            let firstDerivative = { (t: Tensor) in grad { (u: Tensor) in (f(u) * v).sum() }(t) }
            let hessianVector = grad { (t: Tensor) in (firstDerivative(t) * w).sum() }(input)
            let eps = 1e-5
            let base = input.doubles
            var numeric = [Double](repeating: 0, count: base.count)
            for i in base.indices {
                var up = base, down = base
                up[i] += eps
                down[i] -= eps
                let upValue = (firstDerivative(Tensor(doubles: up, shape: input.shape, dtype: .float64)) * w).sum().item()
                let downValue = (firstDerivative(Tensor(doubles: down, shape: input.shape, dtype: .float64)) * w).sum().item()
                numeric[i] = (upValue - downValue) / (2 * eps)
            }
            assertClose(hessianVector, numeric, atol: 1e-6, rtol: 1e-5, name)
        }
    }
}

final class TracedGradientTests: XCTestCase {
    func testTracingValueAndGradRecordsTheBackwardPass() {
        let f = { (xs: [Tensor]) -> [Tensor] in
            let (value, g) = valueAndGrad { (t: Tensor) in (t * t).sum() }(xs[0])
            return [value, g]
        }
        let graph = trace([TensorSpec([3], .float64)], f)
        let x = Tensor([1, 2, -3] as [Double])
        let replayed = graph([x])
        assertClose(replayed[0], [14])
        assertClose(replayed[1], [2, 4, -6])
    }
}
