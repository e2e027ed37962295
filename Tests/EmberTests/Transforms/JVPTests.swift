import XCTest
@testable import Ember

/// jvp: every primitive's forward-mode rule against float64 central finite differences and
/// against reverse mode (<jvp(v), u> = <v, vjp(u)> for random v, u), and composition:
/// jvp of grad (Hessian-vector products), grad of jvp, jvp of jvp, jvp under trace.
final class JVPTests: XCTestCase {
    static func normal(_ shape: [Int], _ seed: UInt64) -> Tensor {
        Tensor.randomNormal(shape, dtype: .float64, source: .key(Key(seed)))
    }

    static func dot(_ a: Tensor, _ b: Tensor) -> Double { (a * b).sum().item() }

    /// Checks jvp of f at xs (in the inputs `wrt`; the others are held fixed) against finite
    /// differences along a random direction and, unless `reverse` is false, against vjp.
    func check(_ f: @escaping ([Tensor]) -> Tensor, _ xs: [Tensor], wrt: [Int]? = nil, reverse: Bool = true,
               eps: Double = 1e-6, atol: Double = 1e-6, reverseTolerance: Double = 1e-9,
               file: StaticString = #filePath, line: UInt = #line) {
        let which = Set(wrt ?? Array(xs.indices))
        let v = xs.enumerated().map { i, x in
            which.contains(i) ? JVPTests.normal(x.shape, 100 + UInt64(i)) : Tensor.zeros(x.shape, dtype: x.dtype)
        }
        let (output, tangents) = jvp({ [f($0)] }, primals: xs, tangents: v)
        assertClose(output[0], noGrad { f(xs) }, atol: 0, rtol: 0, "primal output", file: file, line: line)
        let tangent = tangents[0]
        func shifted(_ h: Double) -> Tensor {
            noGrad { f(zip(xs, v).enumerated().map { i, p in which.contains(i) ? p.0 + p.1 * h : p.0 }) }
        }
        let numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
        assertClose(tangent, numeric, atol: atol, rtol: 1e-5, "jvp vs finite differences", file: file, line: line)
        guard reverse else { return }
        let u = JVPTests.normal(tangent.shape, 99)
        let indices = which.sorted()
        let (_, pullback) = vjp({ vars in
            var all = xs
            for (k, i) in indices.enumerated() { all[i] = vars[k] }
            return f(all)
        }, indices.map { xs[$0] })
        let cotangents = pullback(u)
        let reverseSide = zip(indices, cotangents).reduce(0) { $0 + JVPTests.dot(v[$1.0], $1.1) }
        XCTAssertEqual(JVPTests.dot(tangent, u), reverseSide, accuracy: reverseTolerance * max(1, abs(reverseSide)),
                       "<jvp(v), u> vs <v, vjp(u)>", file: file, line: line)
    }

    // MARK: Elementwise

    func testUnaryRules() {
        let x = JVPTests.normal([2, 3], 1), positive = JVPTests.normal([2, 3], 2).abs() + 0.5
        for op in UnaryOp.allCases where op != .logicalNot {
            let input = [.log, .sqrt, .rsqrt].contains(op) ? positive : x
            check({ xs in Dispatch.run1(.unary(op), xs) }, [input])
        }
    }

    func testBinaryRulesWithBroadcasting() {
        let a = JVPTests.normal([2, 3], 3), b = JVPTests.normal([3], 4)
        for op in [BinaryOp.add, .sub, .mul, .div, .maximum, .minimum] {
            check({ xs in Dispatch.run1(.binary(op), xs) }, [a, b])
            check({ xs in Dispatch.run1(.binary(op), xs) }, [a, b], wrt: [1])
        }
        check({ xs in pow(xs[0], xs[1]) }, [a.abs() + 0.5, b])
        // Ties take the mean of the tangents, as the gradient is shared equally.
        let tie = jvp({ xs in [maximum(xs[0], xs[1])] }, primals: [b, b],
                      tangents: [Tensor([2, 4, 6] as [Double]), Tensor([0, 0, 2] as [Double])]).tangents[0]
        XCTAssertEqual(tie.doubles, [1, 2, 4])
    }

    func testSelectCastAndComparisons() {
        let a = JVPTests.normal([2, 3], 5), b = JVPTests.normal([3], 6)
        check({ xs in Tensor.where(xs[0] .> xs[1], xs[0], xs[1] * 2) }, [a, b])
        check({ xs in Tensor.where(xs[0] .> 0, xs[0].exp(), Tensor.scalar(0, dtype: .float64)) }, [a])
        // Through float32: finite differences wide enough to step over its rounding.
        check({ xs in xs[0].cast(to: .float32).cast(to: .float64) * xs[0] }, [a], eps: 1e-3, atol: 1e-4, reverseTolerance: 1e-6)
        check({ xs in (xs[0] .> 0).cast(to: .float64) * xs[0] + xs[0].argmax(axis: 1).cast(to: .float64).sum() }, [a])
    }

    // MARK: Reductions

    func testReductions() {
        let x = JVPTests.normal([3, 4], 7)
        check({ xs in xs[0].sum(axis: 1) }, [x])
        check({ xs in xs[0].prod(axes: [0], keepDims: true) }, [x])
        check({ xs in xs[0].max(axis: 1) + xs[0].min(axis: 0).sum() }, [x])
        check({ xs in xs[0].softmax(axis: -1) }, [x])
        check({ xs in xs[0].logSumExp(axes: [0, 1]) + xs[0].variance(axis: 0).sum() }, [x])
    }

    // MARK: Movement

    func testMovement() {
        let x = JVPTests.normal([2, 3, 4], 8), y = JVPTests.normal([2, 2, 4], 9)
        check({ xs in xs[0].reshaped(to: [4, 6]).permuted(1, 0) }, [x])
        check({ xs in xs[0][TensorIndex.all, 0..<1].expanded(to: [5, 2, 3, 4]) }, [x])
        check({ xs in xs[0][1..., TensorIndex.stride(by: 2), TensorIndex.stride(from: 3, by: -2)] }, [x])
        check({ xs in xs[0].padded([Padding(1, 0), Padding(0, 2), Padding(-1, 1)], value: 3) }, [x])
        check({ xs in Tensor.concatenate([xs[0], xs[1]], axis: 1).flipped(axes: [0, 2]) }, [x, y])
        check({ xs in Tensor.concatenate([xs[0], xs[1]], axis: 1) }, [x, y], wrt: [1])
        check({ xs in xs[0].transposed().contiguous() }, [x])
    }

    // MARK: Indexing

    func testGatherScatterAddIndexSelectIndexAdd() {
        let x = JVPTests.normal([3, 4], 10), src = JVPTests.normal([2, 4], 11)
        let index = Tensor([0, 2, 2, 1, 1, 1, 0, 2] as [Int64], shape: [2, 4])
        let rows = Tensor([2, 0, 2] as [Int64])
        check({ xs in xs[0].gather(axis: 0, index: index) }, [x])
        check({ xs in xs[0].scatterAdding(axis: 0, index: index, source: xs[1]) }, [x, src])
        check({ xs in xs[0].scatterAdding(axis: 0, index: index, source: xs[1]) }, [x, src], wrt: [1])
        check({ xs in xs[0].indexSelect(axis: 0, index: rows) }, [x])
        check({ xs in xs[0].indexAdding(axis: 0, index: rows, source: xs[1]) }, [x, JVPTests.normal([3, 4], 12)])
    }

    // MARK: Linear algebra

    func testMatmul() {
        check({ xs in matmul(xs[0], xs[1]) }, [JVPTests.normal([2, 3, 4], 13), JVPTests.normal([4, 5], 14)])
        check({ xs in matmul(xs[0], xs[1]) }, [JVPTests.normal([3, 4], 15), JVPTests.normal([2, 4, 5], 16)], wrt: [1])
    }

    // MARK: Convolution and pooling

    func testConv2dAndItsBackwardPrimitives() {
        let x = JVPTests.normal([2, 4, 5, 6], 17), w = JVPTests.normal([6, 2, 3, 2], 18), b = JVPTests.normal([6], 19)
        check({ xs in conv2d(xs[0], weight: xs[1], bias: xs[2], stride: [2, 1], padding: 1, dilation: [1, 2], groups: 2) }, [x, w, b])
        check({ xs in conv2d(xs[0], weight: xs[1], bias: xs[2], padding: 1) }, [x, JVPTests.normal([3, 4, 3, 3], 20), b[..<3]], wrt: [2])
        let c = ConvConfig(stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2)
        let g = JVPTests.normal([2, 6, 3, 6], 21)
        check({ xs in Dispatch.run1(.conv2dBackwardInput(c, inputShape: [2, 4, 5, 6]), xs) }, [g, w])
        check({ xs in Dispatch.run1(.conv2dBackwardWeight(c, weightShape: [6, 2, 3, 2]), xs) }, [x, g])
    }

    func testPoolingAndItsBackwardPrimitives() {
        let x = JVPTests.normal([2, 3, 5, 6], 22)
        let c = PoolConfig(kernel: [3, 2], stride: [2, 2], padding: [1, 1], countIncludePad: false)
        let g = JVPTests.normal([2, 3, 3, 4], 23)
        check({ xs in maxPool2d(xs[0], kernelSize: [3, 2], stride: 2, padding: 1) }, [x])
        check({ xs in Dispatch.run1(.avgPool2d(c), xs) }, [x])
        check({ xs in Dispatch.run1(.maxPool2dBackward(c), xs) }, [x, g])
        check({ xs in Dispatch.run1(.avgPool2dBackward(c, inputShape: [2, 3, 5, 6]), xs) }, [g])
    }

    // MARK: Normalization

    /// The outputs and the statistics, flattened into one tensor.
    static func flat(_ ts: [Tensor]) -> Tensor { Tensor.concatenate(ts.map { $0.flattened() }) }

    /// The statistics' tangents against finite differences; the output's against reverse mode
    /// too (the VJP rule ignores the statistics' cotangents, as PyTorch's).
    func testBatchNormAndLayerNormWithStatistics() {
        let x = JVPTests.normal([3, 2, 2, 3], 24), w = JVPTests.normal([2], 25), b = JVPTests.normal([2], 26)
        check({ xs in JVPTests.flat(Dispatch.run(.batchNorm(epsilon: 1e-5), xs)) }, [x, w, b], reverse: false)
        check({ xs in Dispatch.run(.batchNorm(epsilon: 1e-5), xs)[0] }, [x, w, b])
        let wl = JVPTests.normal([2, 3], 27), bl = JVPTests.normal([2, 3], 28)
        check({ xs in JVPTests.flat(Dispatch.run(.layerNorm(axes: 2, epsilon: 1e-5), xs)) }, [x, wl, bl], reverse: false)
        check({ xs in Dispatch.run(.layerNorm(axes: 2, epsilon: 1e-5), xs)[0] }, [x, wl, bl])
    }

    /// The fused backward primitives (not reverse-differentiable, so finite differences only).
    func testNormalizationBackwardPrimitives() {
        let x = JVPTests.normal([3, 2, 2, 3], 29), gy = JVPTests.normal([3, 2, 2, 3], 30), w = JVPTests.normal([2], 31)
        check({ xs in
            let r = Dispatch.run(.batchNorm(epsilon: 1e-5), [xs[0], xs[2], xs[2]])
            return JVPTests.flat(Dispatch.run(.batchNormBackward(epsilon: 1e-5), [xs[0], xs[1], r[1], r[2], xs[2]]))
        }, [x, gy, w], reverse: false, atol: 1e-5)
        let wl = JVPTests.normal([3], 32)
        check({ xs in
            let r = Dispatch.run(.layerNorm(axes: 1, epsilon: 1e-5), [xs[0], xs[2], xs[2]])
            return JVPTests.flat(Dispatch.run(.layerNormBackward(axes: 1, epsilon: 1e-5), [xs[0], xs[1], r[1], r[2], xs[2]]))
        }, [x, gy, wl], reverse: false, atol: 1e-5)
    }

    // MARK: Composition

    static func network(_ x: Tensor) -> Tensor {
        let w = JVPTests.normal([4, 3, 3, 3], 40)
        let h = conv2d(x, weight: w, padding: 1).tanh()
        let n = batchNorm(h, runningMean: nil, runningVariance: nil, training: true).output
        return (maxPool2d(n, kernelSize: 2).softmax(axis: 1) * layerNorm(n.mean(axes: [2, 3]), normalizedShape: [4]).sum()).sum()
    }

    /// jvp of grad: the Hessian-vector product, against finite differences of the gradient.
    func testHessianVectorProduct() {
        let x = JVPTests.normal([2, 3, 4, 4], 41), v = JVPTests.normal([2, 3, 4, 4], 42)
        let hvp = jvp(grad(JVPTests.network), primal: x, tangent: v).tangent
        let eps = 1e-5
        let numeric = (grad(JVPTests.network)(x + v * eps) - grad(JVPTests.network)(x - v * eps)) / (2 * eps)
        assertClose(hvp, numeric, atol: 1e-6, rtol: 1e-5)
    }

    /// grad of jvp: the gradient of <J(x) v, u> with respect to x.
    func testGradOfJVP() {
        let v = JVPTests.normal([2, 3], 43), u = JVPTests.normal([2, 3], 44)
        let f = { (t: Tensor) in (matmul(t.transposed(), t).tanh().sum(axis: 0) + t).sin() }
        checkGradients({ xs in (jvp(f, primal: xs[0], tangent: v).tangent * u).sum() }, [JVPTests.normal([2, 3], 45)])
    }

    /// jvp of jvp: v' H v for a scalar function, against a second difference.
    func testJVPOfJVP() {
        let x = JVPTests.normal([4], 46), v = JVPTests.normal([4], 47)
        let f = { (t: Tensor) in (t.exp() * t.sin()).sum() }
        let second = jvp({ (t: Tensor) in jvp(f, primal: t, tangent: v).tangent }, primal: x, tangent: v).tangent.item()
        let eps = 1e-4
        let numeric = (f(x + v * eps).item() - 2 * f(x).item() + f(x - v * eps).item()) / (eps * eps)
        XCTAssertEqual(second, numeric, accuracy: 1e-5 * max(1, abs(numeric)))
    }

    /// jvp inside a trace records the tangent computation; the replay equals eager jvp.
    func testJVPUnderTrace() {
        let f = { (t: Tensor) in (t * t).sin() }
        let graph = trace([TensorSpec([3], .float64), TensorSpec([3], .float64)]) { xs in
            let (y, dy) = jvp(f, primal: xs[0], tangent: xs[1])
            return [y, dy]
        }
        let x = JVPTests.normal([3], 48), v = JVPTests.normal([3], 49)
        let (y, dy) = jvp(f, primal: x, tangent: v)
        let replayed = graph([x, v])
        XCTAssertEqual(replayed[0].doubles, y.doubles)
        XCTAssertEqual(replayed[1].doubles, dy.doubles)
        assertClose(dy, (x * x).cos() * 2 * x * v, atol: 1e-12)
    }

    /// Outputs that do not depend on the tangents get zero tangents; integer primals none.
    func testConstantOutputsAndIntegerPrimals() {
        let x = JVPTests.normal([3], 50), index = Tensor([2, 0] as [Int64])
        let (outputs, tangents) = jvp({ xs in [xs[0].indexSelect(axis: 0, index: xs[1]), Tensor.ones([2], dtype: .float64)] },
                                      primals: [x, index], tangents: [Tensor.ones([3], dtype: .float64), Tensor.ones([2], dtype: .int64)])
        XCTAssertEqual(outputs[0].doubles, [x.doubles[2], x.doubles[0]])
        XCTAssertEqual(tangents[0].doubles, [1, 1])
        XCTAssertEqual(tangents[1].doubles, [0, 0])
    }
}
