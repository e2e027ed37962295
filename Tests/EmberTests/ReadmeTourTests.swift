import XCTest
import Ember

/// The README's tour, verbatim, so that the documented code keeps compiling and running.
final class ReadmeTourTests: XCTestCase {
    func testTour() {
        // Tensors: shape, strides and offset over shared storage; views share memory.
        let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let y = (x * 2 + 1).relu().sum(axis: 1)          // broadcasting, reductions
        let column = x[TensorIndex.all, 1]                // NumPy-style subscripts (views)
        let h = matmul(x, x.transposed())                 // oneDNN

        // Autograd, the PyTorch way.
        let w = Tensor.randomNormal([3, 1], dtype: .float64).requiringGrad()
        let loss = matmul(x.cast(to: .float64), w).square().mean()
        loss.backward()
        print(w.grad!)

        // Functional transforms, the JAX way; they compose (second derivatives).
        let d2 = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }
        print(d2(Tensor([1, 2, 3] as [Double])))         // 6x

        // Tracing: a function as a graph of primitives, replayable on new inputs.
        let graph = trace([TensorSpec([2, 3], .float32)]) { xs in [xs[0].softmax(axis: 1)] }
        print(graph)
        let out = graph([x])[0]
        
        // Compiling: traced once per input signature, rewritten (elementwise chains fused
        // into one loop, dead code, duplicates; batch norm folded for inference), replayed.
        let fast = compile { (t: Tensor) in layerNorm((t * 2 + 1).gelu(), normalizedShape: [3]) }
        print(fast.report(for: [x]))                      // the graph before and after
        let normalized = fast(x)

        // Randomness: a seeded global generator, or explicit splittable keys.
        manualSeed(42)
        let keys = Key(0).split(into: 2)
        let noise = Tensor.randomNormal([4], source: .key(keys[0]))

        XCTAssertEqual(y.floats, [15, 33])
        XCTAssertEqual(column.floats, [2, 5])
        XCTAssertEqual(h.floats, [14, 32, 32, 77])
        XCTAssertEqual(d2(Tensor([1, 2, 3] as [Double])).doubles, [6, 12, 18])
        XCTAssertEqual(out.shape, [2, 3])
        XCTAssertEqual(normalized.shape, [2, 3])
        XCTAssertEqual(noise.shape, [4])
    }
}
