import XCTest
@testable import Ember

/// vmap: every primitive's batching rule against the loop it replaces (apply f to each
/// example's slices, stack the results), with batched and shared arguments, in- and
/// out-axes other than 0, rank-0 examples, and composition with grad, trace and itself.
/// Float64 throughout; the tolerance covers kernels that sum in another order for the
/// batched shapes (the groups and channel-folding tricks, the layer-norm formula).
final class VmapTests: XCTestCase {
    static func normal(_ shape: [Int], _ seed: UInt64) -> Tensor {
        Tensor.randomNormal(shape, dtype: .float64, source: .key(Key(seed)))
    }

    /// f applied to each example's slices, stacked along the out-axes: what vmap replaces.
    static func loopAndStack(_ f: ([Tensor]) -> [Tensor], _ xs: [Tensor], inAxes: [Int?], outAxes: [Int]? = nil) -> [Tensor] {
        let size = zip(xs, inAxes).compactMap { x, axis in axis.map { x.shape[ShapeMath.normalize(axis: $0, rank: x.rank)!] } }[0]
        let perExample = (0..<size).map { b in
            f(zip(xs, inAxes).map { x, axis in axis.map { x.narrow(axis: $0, start: b, count: 1).squeezed(axis: $0) } ?? x })
        }
        return perExample[0].indices.map { i in
            let results = perExample.map { $0[i] }
            let axis = outAxes?[i] ?? 0
            return Tensor.stack(results, axis: axis < 0 ? axis + results[0].rank + 1 : axis)
        }
    }

    func check(_ f: @escaping ([Tensor]) -> [Tensor], _ xs: [Tensor], inAxes: [Int?]? = nil, outAxes: [Int]? = nil,
               atol: Double = 1e-12, file: StaticString = #filePath, line: UInt = #line) {
        let axes = inAxes ?? xs.map { _ in 0 }
        let batched = vmap(f, inAxes: axes, outAxes: outAxes)(xs)
        let expected = VmapTests.loopAndStack(f, xs, inAxes: axes, outAxes: outAxes)
        XCTAssertEqual(batched.count, expected.count, file: file, line: line)
        for (i, (b, e)) in zip(batched, expected).enumerated() {
            XCTAssertEqual(b.dtype, e.dtype, "result \(i)", file: file, line: line)
            assertClose(b, e, atol: atol, rtol: atol, "result \(i)", file: file, line: line)
        }
    }

    // MARK: Elementwise

    func testUnaryAndCast() {
        let x = VmapTests.normal([4, 3], 1)
        check({ xs in [xs[0].exp(), xs[0].tanh(), xs[0].relu(), xs[0].cast(to: .float32), xs[0].abs().sqrt()] }, [x])
    }

    /// Examples of different ranks broadcast as they would alone; one argument shared.
    func testBinaryCompareAndSelectBroadcast() {
        let a = VmapTests.normal([4, 2, 3], 2), b = VmapTests.normal([3, 4], 3), shared = VmapTests.normal([2, 1], 4)
        check({ xs in [xs[0] * xs[1] + xs[2], pow(xs[0].abs(), xs[1]), maximum(xs[0], xs[2]),
                       (xs[0] .> xs[1]).cast(to: .float64), Tensor.where(xs[0] .< xs[2], xs[1], xs[0])] },
              [a, b, shared], inAxes: [0, 1, nil])
    }

    /// Elementwise rules run the same kernels on the same values: bit-identical.
    func testElementwiseIsExact() {
        let x = VmapTests.normal([5, 7], 5), y = VmapTests.normal([7], 6)
        let f = { (xs: [Tensor]) in [(xs[0] * xs[1]).sin() / (xs[1] * xs[1] + 1)] }
        let batched = vmap(f, inAxes: [0, nil])([x, y])[0]
        XCTAssertEqual(batched.doubles, VmapTests.loopAndStack(f, [x, y], inAxes: [0, nil])[0].doubles)
    }

    // MARK: Reductions

    func testReductionsAndArgReductions() {
        let x = VmapTests.normal([3, 4, 5], 7)
        check({ xs in [xs[0].sum(axis: 1), xs[0].prod(axes: [0, 1], keepDims: true), xs[0].max(axis: 0), xs[0].min(),
                       xs[0].argmax(axis: 1).cast(to: .float64), xs[0].softmax(axis: -1), xs[0].logSumExp(axes: [0])] }, [x])
    }

    // MARK: Movement

    func testMovement() {
        // Examples [2, 4] along axis 1.
        let x = VmapTests.normal([2, 3, 4], 8), shared = VmapTests.normal([2, 3], 9)
        check({ xs in
            let x = xs[0]
            return [x.reshaped(to: [4, 2]), x.transposed(), x.unsqueezed(axis: 1).expanded(to: [2, 3, 4]),
                    x[1..., TensorIndex.stride(by: 2)], x.padded([Padding(1, 0), Padding(0, 2)], value: 7),
                    Tensor.concatenate([x, xs[1]], axis: 1), x.flipped(axes: [0, 1]), x.transposed().contiguous()]
        }, [x, shared], inAxes: [1, nil])
    }

    // MARK: Indexing

    func testGatherAndScatterAdd() {
        let x = VmapTests.normal([3, 4, 5], 10), base = VmapTests.normal([4, 5], 11)
        let index = Tensor([0, 4, 4, 1, 2, 3, 0, 0, 1, 3, 2, 2] as [Int64], shape: [3, 2, 2])
        let sharedIndex = Tensor([1, 0, 3, 3] as [Int64], shape: [2, 2])
        check({ xs in [xs[0].gather(axis: 1, index: xs[1]), xs[2].scatterAdding(axis: 1, index: xs[1], source: xs[0][..<2, ..<2])] },
              [x, index, base], inAxes: [0, 0, nil])
        check({ xs in [xs[0].gather(axis: 1, index: xs[1]), xs[0].scatterAdding(axis: 0, index: xs[1], source: xs[0][..<2, ..<2])] },
              [x, sharedIndex], inAxes: [0, nil])
    }

    func testIndexSelectAndIndexAddWithSharedAndPerExampleIndices() {
        let x = VmapTests.normal([3, 4, 5], 12), source = VmapTests.normal([3, 4, 2], 13)
        let perExample = Tensor([0, 4, 2, 2, 3, 1] as [Int64], shape: [3, 2])
        let shared = Tensor([3, 0] as [Int64])
        let f = { (xs: [Tensor]) in
            [xs[0].indexSelect(axis: 1, index: xs[1]), xs[0].indexAdding(axis: 1, index: xs[1], source: xs[2])]
        }
        check(f, [x, perExample, source])
        check(f, [x, shared, source], inAxes: [0, nil, 0])
        check(f, [x[0], perExample, source], inAxes: [nil, 0, 0])
    }

    // MARK: Linear algebra

    func testMatmulWithBatchedAndSharedOperands() {
        let a = VmapTests.normal([3, 2, 4], 14), b = VmapTests.normal([4, 5], 15), stack = VmapTests.normal([3, 2, 4, 5], 16)
        let f = { (xs: [Tensor]) in [matmul(xs[0], xs[1])] }
        check(f, [a, b], inAxes: [0, nil])
        check(f, [a[0], stack], inAxes: [nil, 0])
        check(f, [a, stack])
        // Per-example vectors: a matrix-vector and a dot product in each example.
        let v = VmapTests.normal([3, 4], 17)
        check({ xs in [matmul(xs[0], xs[1]), matmul(xs[1], xs[1])] }, [a, v])
    }

    // MARK: Convolution

    func testConv2dWithSharedAndPerExampleWeightsAndBias() {
        let x = VmapTests.normal([3, 2, 4, 6, 5], 18), w = VmapTests.normal([3, 6, 2, 3, 2], 19), bias = VmapTests.normal([3, 6], 20)
        let f = { (xs: [Tensor]) in [conv2d(xs[0], weight: xs[1], bias: xs[2], stride: [2, 1], padding: 1, groups: 2)] }
        check(f, [x, w[0], bias[0]], inAxes: [0, nil, nil], atol: 1e-10)
        check(f, [x, w, bias[0]], inAxes: [0, 0, nil], atol: 1e-10)
        check(f, [x[0], w, bias], inAxes: [nil, 0, 0], atol: 1e-10)
        check(f, [x, w[0], bias], inAxes: [0, nil, 0], atol: 1e-10)
    }

    /// The backward primitives, with each operand batched or shared.
    func testConvolutionBackwardPrimitives() {
        let c = ConvConfig(stride: [1, 2], padding: [1, 0], groups: 2)
        let g = VmapTests.normal([3, 2, 6, 6, 2], 21), w = VmapTests.normal([3, 6, 2, 3, 2], 22), x = VmapTests.normal([3, 2, 4, 6, 5], 23)
        let input = { (xs: [Tensor]) in [Dispatch.run1(.conv2dBackwardInput(c, inputShape: [2, 4, 6, 5]), xs)] }
        let weight = { (xs: [Tensor]) in [Dispatch.run1(.conv2dBackwardWeight(c, weightShape: [6, 2, 3, 2]), xs)] }
        for axes in [[0, nil], [nil, 0], [0, 0]] as [[Int?]] {
            check(input, [axes[0] == nil ? g[0] : g, axes[1] == nil ? w[0] : w], inAxes: axes, atol: 1e-10)
            check(weight, [axes[0] == nil ? x[0] : x, axes[1] == nil ? g[0] : g], inAxes: axes, atol: 1e-10)
        }
    }

    // MARK: Pooling

    func testPoolingAndItsBackwardPrimitives() {
        let x = VmapTests.normal([3, 2, 2, 5, 6], 24)
        let c = PoolConfig(kernel: [3, 2], stride: [2, 2], padding: [1, 1])
        let g = VmapTests.normal([3, 2, 2, 3, 4], 25)
        check({ xs in [maxPool2d(xs[0], kernelSize: [3, 2], stride: 2, padding: 1),
                       avgPool2d(xs[0], kernelSize: [3, 2], stride: 2, padding: 1, countIncludePad: false)] }, [x])
        check({ xs in [Dispatch.run1(.maxPool2dBackward(c), xs), Dispatch.run1(.avgPool2dBackward(c, inputShape: [2, 2, 5, 6]), [xs[1]])] },
              [x, g])
        check({ xs in [Dispatch.run1(.maxPool2dBackward(c), xs)] }, [x[0], g], inAxes: [nil, 0])
    }

    // MARK: Normalization

    func testBatchNormKeepsEachExamplesStatistics() {
        let x = VmapTests.normal([3, 4, 2, 3], 26), w = VmapTests.normal([3, 2], 27), b = VmapTests.normal([2], 28)
        let f = { (xs: [Tensor]) in Dispatch.run(.batchNorm(epsilon: 1e-5), xs) }
        check(f, [x, w, b], inAxes: [0, 0, nil], atol: 1e-10)
        check(f, [x, w[0], b], inAxes: [0, nil, nil], atol: 1e-10)
        let gy = VmapTests.normal([3, 4, 2, 3], 29)
        let backward = { (xs: [Tensor]) -> [Tensor] in
            let r = Dispatch.run(.batchNorm(epsilon: 1e-5), [xs[0], xs[2], xs[2]])
            return Dispatch.run(.batchNormBackward(epsilon: 1e-5), [xs[0], xs[1], r[1], r[2], xs[2]])
        }
        check(backward, [x, gy, w], atol: 1e-10)
        check(backward, [x, gy, w[0]], inAxes: [0, 0, nil], atol: 1e-10)
    }

    func testLayerNormWithSharedAndPerExampleParameters() {
        let x = VmapTests.normal([3, 2, 4], 30), w = VmapTests.normal([3, 4], 31), b = VmapTests.normal([4], 32)
        let f = { (xs: [Tensor]) in Dispatch.run(.layerNorm(axes: 1, epsilon: 1e-5), xs) }
        check(f, [x, w[0], b], inAxes: [0, nil, nil], atol: 1e-10)
        check(f, [x, w, b], inAxes: [0, 0, nil], atol: 1e-10)
        check(f, [x[0], w, b], inAxes: [nil, 0, nil], atol: 1e-10)
        let gy = VmapTests.normal([3, 2, 4], 33)
        let backward = { (xs: [Tensor]) -> [Tensor] in
            let r = Dispatch.run(.layerNorm(axes: 1, epsilon: 1e-5), [xs[0], xs[2], xs[2]])
            return Dispatch.run(.layerNormBackward(axes: 1, epsilon: 1e-5), [xs[0], xs[1], r[1], r[2], xs[2]])
        }
        check(backward, [x, gy, w], atol: 1e-10)
        check(backward, [x, gy, w[0]], inAxes: [0, 0, nil], atol: 1e-10)
        // Normalizing over every axis of an example: no axis of statistics but the batch.
        let all = { (xs: [Tensor]) in [layerNorm(xs[0], normalizedShape: [2, 4])] }
        check(all, [x], atol: 1e-10)
        check({ xs in [grad { (t: Tensor) in (layerNorm(t, normalizedShape: [2, 4]) * xs[1]).sum() }(xs[0])] },
              [x, VmapTests.normal([3, 2, 4], 34)], atol: 1e-10)
    }

    // MARK: Axes

    /// In- and out-axes other than 0, negative axes, and a shared (nil) argument.
    func testInAndOutAxes() {
        let x = VmapTests.normal([2, 5, 3], 35), y = VmapTests.normal([3, 5], 36), shared = VmapTests.normal([2, 3], 37)
        let f = { (xs: [Tensor]) in [xs[0] * xs[1] + xs[2], (xs[0] * xs[1]).sum(axis: 0)] }
        check(f, [x, y, shared], inAxes: [1, -1, nil], outAxes: [2, -1])
        let out = vmap(f, inAxes: [1, -1, nil], outAxes: [2, -1])([x, y, shared])
        XCTAssertEqual(out[0].shape, [2, 3, 5])
        XCTAssertEqual(out[1].shape, [3, 5])
    }

    /// Rank-0 examples: a batch of scalars.
    func testScalarExamples() {
        let s = Tensor([0.5, -1, 2, 3] as [Double]), v = VmapTests.normal([3], 38)
        check({ xs in [xs[0] * xs[1] + xs[0].exp(), (xs[0] * xs[0]).sum()] }, [s, v], inAxes: [0, nil])
        XCTAssertEqual(vmap({ (t: Tensor) in t * 2 })(s).doubles, [1, -2, 4, 6])
    }

    /// A result that does not depend on the batched argument is repeated for every example.
    func testUnbatchedResultIsRepeated() {
        let shared = Tensor([1, 2] as [Double])
        let out = vmap({ xs in [xs[1] * 3, xs[0]] }, inAxes: [0, nil], outAxes: [1, 0])([VmapTests.normal([4], 39), shared])
        XCTAssertEqual(out[0].shape, [2, 4])
        XCTAssertEqual(out[0].doubles, [3, 3, 3, 3, 6, 6, 6, 6])
    }

    // MARK: Composition

    func testNestedVmapWithCapturedValues() {
        let x = VmapTests.normal([3, 4], 40), y = VmapTests.normal([5, 4], 41)
        // Pairwise: the inner function captures the outer example.
        let pairwise = vmap({ (row: Tensor) in vmap({ (other: Tensor) in (row * other).sum() + row.max() })(y) })(x)
        var expected = [Tensor]()
        for i in 0..<3 {
            let row = x[i]
            expected.append(Tensor.stack((0..<5).map { j in (row * y[j]).sum() + row.max() }))
        }
        assertClose(pairwise, Tensor.stack(expected), atol: 1e-12)
        check({ xs in vmap({ ys in [matmul(ys[0], ys[1]).tanh()] }, inAxes: [0, nil])([xs[0], xs[1]]) },
              [VmapTests.normal([2, 3, 4], 42), VmapTests.normal([2, 4, 2], 43)])
    }

    static func loss(_ x: Tensor, _ w: Tensor, _ label: Tensor) -> Tensor {
        let hidden = matmul(x, w).tanh()
        return (hidden - label).square().sum() + layerNorm(hidden, normalizedShape: [3]).sum() * 0.1
    }

    /// Per-example gradients: vmap(grad(f)) equals grad(f) on each example.
    func testPerExampleGradients() {
        let x = VmapTests.normal([6, 4], 44), w = VmapTests.normal([4, 3], 45), labels = VmapTests.normal([6, 3], 46)
        check({ xs in grad { (v: [Tensor]) in VmapTests.loss(v[0], v[1], xs[2]) }([xs[0], xs[1]]) },
              [x, w, labels], inAxes: [0, nil, 0], atol: 1e-10)
    }

    /// grad through vmap equals grad through the loop.
    func testGradOfVmap() {
        let x = VmapTests.normal([6, 4], 47), w = VmapTests.normal([4, 3], 48), labels = VmapTests.normal([6, 3], 49)
        let perExample = { (xs: [Tensor]) in [VmapTests.loss(xs[0], xs[1], xs[2])] }
        let viaVmap = grad { (w: Tensor) in vmap(perExample, inAxes: [0, nil, 0])([x, w, labels])[0].sum() }(w)
        let viaLoop = grad { (w: Tensor) in VmapTests.loopAndStack(perExample, [x, w, labels], inAxes: [0, nil, 0])[0].sum() }(w)
        assertClose(viaVmap, viaLoop, atol: 1e-10)
        checkGradients({ xs in vmap(perExample, inAxes: [0, nil, 0])([xs[0], xs[1], labels])[0].sum() }, [x, w])
    }

    /// A vmapped function traces to one batched graph, without a loop over examples.
    func testTracedVmapIsOneBatchedGraph() {
        let f = vmap({ (t: Tensor) in (t * t).sum() })
        let graph = trace([TensorSpec([8, 3], .float64)]) { xs in [f(xs[0])] }
        XCTAssertTrue(graph.operations.contains { $0.primitive == .reduce(.sum, axes: [1], keepDims: false) }, "\(graph)")
        XCTAssertLessThan(graph.operations.count, 4, "\(graph)")
        let x = VmapTests.normal([8, 3], 50)
        XCTAssertEqual(graph([x])[0].doubles, f(x).doubles)
    }
}
