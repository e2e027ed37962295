import XCTest
import Ember
import EmberNN
import EmberOptim
import Foundation

/// The README's tour, verbatim, so that the documented code keeps compiling and running.
final class ReadmeTourTests: XCTestCase {
    func testTour() {
        // Tensors: shape, strides and offset over shared storage; views share memory.
        let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let y = (x * 2 + 1).relu().sum(axis: 1)          // broadcasting, reductions
        let column = x[TensorIndex.all, 1]                // NumPy-style subscripts (views)
        let h = matmul(x, x.transposed())                 // oneDNN
        let gram = einsum("ij,kj->ik", x, x)              // = h; torch.einsum's rules
        let causal = gram.maskedFill(Tensor.ones([2, 2]).tril() .== 0, with: -1e9)   // tril, triu

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

        // Derivative rules of your own (JAX's custom_vjp, PyTorch's autograd.Function): here a
        // gradient clipped in the backward pass. They hold under grad, compile and vmap.
        let clipGradient = customVJP({ (t: Tensor) in t * 1 }, backward: { _, _, g in
            minimum(maximum(g, Tensor.scalar(-1)), Tensor.scalar(1))
        })
        let clipped = grad { (t: Tensor) in (clipGradient(t) * 5).sum() }(x)   // all ones
        let stopped = grad { (t: Tensor) in (t * stopGradient(t)).sum() }(x)    // = x: no derivative through it

        XCTAssertEqual(clipped.floats, [1, 1, 1, 1, 1, 1])
        XCTAssertEqual(stopped.floats, x.floats)
        XCTAssertEqual(y.floats, [15, 33])
        XCTAssertEqual(column.floats, [2, 5])
        XCTAssertEqual(h.floats, [14, 32, 32, 77])
        XCTAssertEqual(gram.floats, h.floats)
        XCTAssertEqual(causal.floats, [14, -1e9, 32, 77])
        XCTAssertEqual(d2(Tensor([1, 2, 3] as [Double])).doubles, [6, 12, 18])
        XCTAssertEqual(out.shape, [2, 3])
        XCTAssertEqual(normalized.shape, [2, 3])
        XCTAssertEqual(noise.shape, [4])
    }
}

/// The README's training and functional tours, verbatim.
final class ReadmeTrainingTourTests: XCTestCase {
    func testTrainingAndFunctionalTours() throws {
        let model = Sequential(Linear(784, 128), ReLU(), Dropout(probability: 0.1), Linear(128, 10))
        print(model.summary(input: Tensor.zeros([1, 784])))     // Keras-style table
        let optimizer = AdamW(model.parameters(), lr: 1e-3)
        let scheduler = LRScheduler(optimizer, schedule: CosineAnnealingLR(tMax: 100))
        let images = Tensor.randomNormal([32, 784]), labels = Tensor.randomIntegers([32], high: 10)
        for _ in 0..<3 {
            let loss = crossEntropy(logits: model(images), labels: labels, labelSmoothing: 0.1)
            optimizer.zeroGrad()
            loss.backward()
            _ = clipGradNorm(model.parameters(), maxNorm: 1)
            optimizer.step()
            scheduler.step()
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mlp.safetensors")
        try model.save(to: file)                                  // atomic; loads in PyTorch by name
        try model.load(from: file)                                // or a file PyTorch wrote

        let params = model.eval().parameterTree()                // nested by name: "0" → "weight"
        let lossOf = { (p: TensorTree) in
            model.applying(p) { crossEntropy(logits: model(images), labels: labels) }
        }
        let adamStep = adam(learningRate: 1e-3)
        let (updates, _) = adamStep.update(grad(lossOf)(params), adamStep.initialize(params), params)
        let updated = applyUpdates(params, updates)

        let perExample = vmap({ (xs: [Tensor]) in
            [grad { (w: Tensor) in (w * xs[0]).sum().square() }(xs[1])]
        }, inAxes: [0, nil])([images, Tensor.ones([784])])[0]    // [32, 784], no loop
        let (sine, cosine) = jvp({ $0.sin() }, primal: Tensor([0, 1] as [Float]), tangent: Tensor([1, 1] as [Float]))

        XCTAssertEqual(scheduler.lastEpoch, 3)
        XCTAssertEqual(updated.paths, ["0.bias", "0.weight", "3.bias", "3.weight"])
        XCTAssertEqual(perExample.shape, [32, 784])
        // d/dw (w·x)² = 2 (w·x) x for the first example.
        let first = images[0]
        assertClose(perExample[0], first * (first.sum() * 2), atol: 1e-3, rtol: 1e-4)
        XCTAssertEqual(sine.floats[0], 0)
        XCTAssertEqual(sine.floats[1], Float(sin(1.0)), accuracy: 1e-6)
        XCTAssertEqual(cosine.floats[1], Float(cos(1.0)), accuracy: 1e-6)
        try? FileManager.default.removeItem(at: file)
    }
}
