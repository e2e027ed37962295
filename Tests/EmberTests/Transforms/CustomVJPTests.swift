import XCTest
@testable import Ember
@testable import EmberNN

/// customVJP and stopGradient under grad, compile, vmap and jvp, with the three classic
/// uses: a gradient clipped in the backward pass, a straight-through estimator and a
/// numerically stable log(1 + exp(x)).
final class CustomVJPTests: XCTestCase {
    /// Identity forward; the backward pass clips the cotangent to [-1, 1] (JAX's clip_gradient).
    let clipGradient = customVJP({ (x: Tensor) in x * 1 }, backward: { _, _, g in
        Ember.minimum(Ember.maximum(g, Tensor.scalar(-1, dtype: g.dtype)), Tensor.scalar(1, dtype: g.dtype))
    }, name: "clip_gradient")

    /// round(x) forward, identity backward.
    let straightThrough = customVJP({ (x: Tensor) in x.rounded() }, backward: { _, _, g in g }, name: "straight_through")

    /// log(1 + exp(x)), with the derivative 1 - 1 / (1 + exp(x)) that stays finite for large x
    /// (autodiff of the formula divides inf by inf).
    let log1pexp = customVJP({ (x: Tensor) in (x.exp() + 1).log() }, backward: { x, _, g in
        g * (1 - 1 / (x.exp() + 1))
    }, name: "log1pexp")

    func testGradUsesTheBackwardFunction() {
        let x = Tensor([-3, 0.5, 4] as [Double])
        XCTAssertEqual(grad { (x: Tensor) in (self.clipGradient(x) * 5).sum() }(x).doubles, [1, 1, 1])
        XCTAssertEqual(grad { (x: Tensor) in (self.straightThrough(x) * Tensor([1, 2, 3] as [Double])).sum() }(x).doubles, [1, 2, 3])
        let large = Tensor([0, 1000] as [Double])
        XCTAssertEqual(grad { (x: Tensor) in self.log1pexp(x).sum() }(large).doubles, [0.5, 1])
        XCTAssertTrue(grad { (x: Tensor) in (x.exp() + 1).log().sum() }(large).doubles[1].isNaN, "plain autodiff is NaN there")
        // The backward function's operations are recorded for a second derivative: d²/dx² at 0 is 1/4.
        let second = grad { (x: Tensor) in grad { (u: Tensor) in self.log1pexp(u).sum() }(x).sum() }(Tensor([0] as [Double]))
        assertClose(second, [0.25], atol: 1e-12)
        // Tape-style backward() too.
        let leaf = Tensor([2, -2] as [Double]).requiringGrad()
        (clipGradient(leaf) * 3).sum().backward()
        XCTAssertEqual(leaf.grad!.doubles, [1, 1])
    }

    func testUnderCompileAndVmap() {
        let x = Tensor([[-3, 0.4], [2.6, 1000]] as [[Double]])
        let step = compile(valueAndGrad { (xs: [Tensor]) in (self.straightThrough(xs[0]) * 3 + self.log1pexp(xs[0])).sum() })
        let (value, grads) = step([x])
        let eager = valueAndGrad { (x: Tensor) in (self.straightThrough(x) * 3 + self.log1pexp(x)).sum() }(x)
        assertClose(value, eager.value, atol: 1e-9)
        assertClose(grads[0], eager.grad, atol: 1e-12)
        XCTAssertTrue(step.function.graph(for: [x]).operations.contains { if case .custom = $0.primitive { return true }; return false })
        // Per-example gradients: vmap of grad equals the loop.
        let perExample = vmap(grad { (x: Tensor) in (self.clipGradient(x) * 7).sum() + self.log1pexp(x).sum() })(x)
        for i in 0..<2 {
            assertClose(perExample[i], grad { (x: Tensor) in (self.clipGradient(x) * 7).sum() + self.log1pexp(x).sum() }(x[i]), atol: 1e-12)
        }
        // grad of vmap: a weight shared by every example gets the sum of their cotangents.
        let w = Tensor([0.5, -2] as [Double])
        let shared = customVJP({ xs in [xs[0] * xs[1]] }, backward: { xs, _, g in [g[0] * xs[1] * 10, g[0] * xs[0]] })
        let gw = grad { (w: Tensor) in vmap({ xs in shared(xs) }, inAxes: [0, nil])([x, w])[0].sum() }(w)
        assertClose(gw, x.sum(axis: 0), atol: 1e-9)
    }

    func testJVPDifferentiatesTheForwardFunction() {
        let (y, t) = jvp(log1pexp, primal: Tensor([0] as [Double]), tangent: Tensor([2] as [Double]))
        assertClose(y, [log(2.0)], atol: 1e-12)
        assertClose(t, [1], atol: 1e-12)
    }

    func testInsideAModule() {
        let linear = Linear(2, 1, dtype: .float64)
        let x = Tensor([[1, 2]] as [[Double]])
        let loss = (clipGradient(linear(x)) * 100).sum()
        loss.backward()
        XCTAssertEqual(linear.weight.grad!.doubles, [1, 2])
    }

    func testStopGradientStopsGradientsAndTangents() {
        let f = { (x: Tensor) in x * stopGradient(x) }
        let x = Tensor([3] as [Double])
        XCTAssertEqual(grad { f($0).sum() }(x).doubles, [3])
        XCTAssertEqual(jvp(f, primal: x, tangent: Tensor([1] as [Double])).tangent.doubles, [3])
        XCTAssertEqual(jvp({ $0 * $0.detached() }, primal: x, tangent: Tensor([1] as [Double])).tangent.doubles, [6],
                       "detached() only stops the tape")
        XCTAssertEqual(compile { f($0) }(x).doubles, [9])
        XCTAssertEqual(vmap { stopGradient($0) * 2 }(Tensor([[1], [2]] as [[Double]])).doubles, [2, 4])
    }
}
