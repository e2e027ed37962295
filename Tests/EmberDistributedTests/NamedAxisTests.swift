import Ember
import EmberDistributed
import XCTest

/// The named-axis collectives inside `vmap(_:axisName:)`, in one process, against the
/// examples combined by hand, and their derivatives with JAX's semantics (a collective's
/// cotangent is the transposed collective over the examples). The same collectives over MPI
/// ranks are checked by the "pmap" check of Tests/DistributedChecks, against these.
final class NamedAxisTests: XCTestCase {
    /// Four examples of three values: example b holds 10 b + [0, 1, 2] (with a twist so that
    /// maxima and minima do not all sit in one example).
    let rows = Tensor([0, 1, 22, 10, 11, 2, 20, 21, 12, 30, -1, 5] as [Float], shape: [4, 3])

    func assertClose(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        for (x, y) in zip(a.doubles, b.doubles) { XCTAssertEqual(x, y, accuracy: 1e-4, what, file: file, line: line) }
    }

    /// `t` repeated once per example.
    func everyExample(_ t: Tensor, _ n: Int = 4) -> Tensor { t.unsqueezed(axis: 0).expanded(to: [n] + t.shape) }

    func testReductionsCombineTheExamples() {
        let out = vmap({ xs in
            [psum(xs[0], axisName: "i"), pmean(xs[0], axisName: "i"), pmax(xs[0], axisName: "i"), pmin(xs[0], axisName: "i")]
        }, axisName: "i")([rows])
        assertClose(out[0], everyExample(rows.sum(axis: 0)), "psum")
        assertClose(out[1], everyExample(rows.mean(axis: 0)), "pmean")
        assertClose(out[2], everyExample(rows.max(axis: 0)), "pmax")
        assertClose(out[3], everyExample(rows.min(axis: 0)), "pmin")
    }

    func testAllGatherAndPsumScatter() {
        let out = vmap({ xs in
            let x = xs[0]  // [3]
            let square = Tensor.stack([x, x * 2, x * 3, x * 4])  // [4, 3]: one part per example
            return [allGather(x, axisName: "i"), allGather(x, axisName: "i", axis: 1), allGather(x, axisName: "i", tiled: true),
                    psumScatter(square, axisName: "i"), psumScatter(square.reshaped(to: [12]), axisName: "i", tiled: true)]
        }, axisName: "i")([rows])
        assertClose(out[0], everyExample(rows), "allGather")
        assertClose(out[1], everyExample(rows.transposed()), "allGather along axis 1")
        assertClose(out[2], everyExample(rows.reshaped(to: [12])), "allGather tiled")
        // Example b keeps part b of the sum of every example's square: (b + 1) * sum of rows.
        let sum = rows.sum(axis: 0)
        let expected = Tensor.stack((1...4).map { sum * Double($0) })
        assertClose(out[3], expected, "psumScatter")
        assertClose(out[4], expected, "psumScatter tiled")
    }

    func testNestedVmapsReduceOverTheirOwnAxis() {
        let x = Tensor.randomNormal([2, 3, 4])
        let out = vmap({ (outer: [Tensor]) -> [Tensor] in
            vmap({ (inner: [Tensor]) -> [Tensor] in
                [psum(inner[0], axisName: "a"), psum(inner[0], axisName: "b")]
            }, axisName: "b")(outer)
        }, axisName: "a")([x])
        assertClose(out[0], x.sum(axis: 0, keepDims: true).expanded(to: x.shape), "psum over the outer axis")
        assertClose(out[1], x.sum(axis: 1, keepDims: true).expanded(to: x.shape), "psum over the inner axis")
    }

    /// L = sum over examples of x_b . psum(x) = |S|^2 with S the sum of the examples: dL/dx_b = 2 S.
    func testGradientOfVmapThroughPsum() {
        let grads = grad { (x: Tensor) in
            vmap({ (e: Tensor) in (e * psum(e, axisName: "i")).sum() }, axisName: "i")(x).sum()
        }(rows)
        assertClose(grads, everyExample(rows.sum(axis: 0) * 2), "grad of vmap")
    }

    /// Per-example gradients of |x_b - pmean(x)|^2: pmean's transposed cotangents cancel
    /// (they average to zero), leaving 2 (x_b - mean), as in JAX.
    func testPerExampleGradientsThroughPmean() {
        let perExample = vmap({ (e: Tensor) in
            grad { (x: Tensor) in (x - pmean(x, axisName: "i")).square().sum() }(e)
        }, axisName: "i")(rows)
        assertClose(perExample, (rows - everyExample(rows.mean(axis: 0))) * 2, "vmap of grad")
    }

    /// Forward mode through every collective, with the jvp outside the vmap and inside it
    /// (as inside a pmap, where each rank differentiates its own function), against central
    /// finite differences in float64: the collective of the tangents, and for pmax and pmin
    /// the tangent of the example that holds the extreme.
    func testJVPThroughTheCollectives() {
        func collectives(_ e: Tensor) -> [Tensor] {
            let square = Tensor.stack([e, e * 2, e * 3, e * 4])
            return [psum(e, axisName: "i"), pmean(e, axisName: "i"), pmax(e, axisName: "i"), pmin(e, axisName: "i"),
                    allGather(e, axisName: "i", axis: 1), psumScatter(square, axisName: "i")]
        }
        let f = vmap({ xs in collectives(xs[0]) }, axisName: "i")
        let x = rows.cast(to: .float64), t = Tensor.randomNormal([4, 3], dtype: .float64, source: .key(Key(5)))
        let h = 1e-6
        let plus = f([x + t * h]), minus = f([x - t * h])
        let expected = zip(plus, minus).map { ($0 - $1) / (2 * h) }
        let outside = jvp(f, primals: [x], tangents: [t]).tangents
        let inside = vmap({ xt in jvp({ collectives($0[0]) }, primals: [xt[0]], tangents: [xt[1]]).tangents }, axisName: "i")([x, t])
        let names = ["psum", "pmean", "pmax", "pmin", "allGather", "psumScatter"]
        for (i, name) in names.enumerated() {
            assertClose(outside[i], expected[i], "jvp(vmap) of \(name)")
            assertClose(inside[i], expected[i], "vmap(jvp) of \(name)")
        }
    }
}
