import XCTest
import Ember
import EmberNN
import EmberOptim

/// End to end: PyTorch-style hand-written loops (zeroGrad, backward, step) on generated data
/// reach a stated held-out accuracy. Seeded, so the numbers are the same on every run.
final class TrainingLoopTests: XCTestCase {
    /// Three interleaved spirals in 2-D, `perClass` points each, with Gaussian jitter.
    private func spirals(perClass: Int, key: Key) -> (x: Tensor, y: Tensor) {
        let t = Tensor.randomUniform([3, perClass], low: 0.1, high: 1, dtype: .float32, source: .key(key.fold(in: 0)))
        let noise = Tensor.randomNormal([3, perClass, 2], std: 0.04, source: .key(key.fold(in: 1)))
        let offsets = Tensor([0, 2.0944, 4.1888] as [Float], shape: [3, 1])
        let angle = t * 4 + offsets
        let x = Tensor.stack([angle.cos() * t, angle.sin() * t], axis: 2) + noise
        let y = Tensor.arange(3).unsqueezed(axis: 1).expanded(to: [3, perClass])
        return (x.reshaped(to: [-1, 2]), y.reshaped(to: [-1]))
    }

    func testMLPLearnsSpirals() {
        manualSeed(0)
        let train = spirals(perClass: 200, key: Key(1)), test = spirals(perClass: 100, key: Key(2))
        let model = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 3))
        let optimizer = Adam(model.parameters(), lr: 0.01)
        for _ in 0..<300 {
            let loss = crossEntropy(logits: model(train.x), labels: train.y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        model.eval()
        let accuracy = EmberNN.accuracy(logits: model(test.x), labels: test.y).item()
        XCTAssertGreaterThan(accuracy, 0.95, "held-out accuracy on three spirals")
    }

    /// 12x12 images holding one bar, horizontal, vertical or either diagonal, at a random
    /// place, plus noise; the class is the orientation.
    private func bars(count: Int, key: Key) -> (x: Tensor, y: Tensor) {
        let labels = Tensor.randomIntegers([count], high: 4, source: .key(key.fold(in: 0))).scalars(as: Int64.self)
        let places = Tensor.randomIntegers([count, 2], high: 6, source: .key(key.fold(in: 1))).scalars(as: Int64.self)
        var pixels = [Float](repeating: 0, count: count * 144)
        for n in 0..<count {
            let r0 = Int(places[2 * n]) + 3, c0 = Int(places[2 * n + 1]) + 3
            for step in -3...3 {
                let (r, c): (Int, Int)
                switch labels[n] {
                case 0: (r, c) = (r0, c0 + step)
                case 1: (r, c) = (r0 + step, c0)
                case 2: (r, c) = (r0 + step, c0 + step)
                default: (r, c) = (r0 + step, c0 - step)
                }
                pixels[n * 144 + r * 12 + c] = 1
            }
        }
        let noise = Tensor.randomNormal([count, 1, 12, 12], std: 0.3, source: .key(key.fold(in: 2)))
        return (Tensor(pixels, shape: [count, 1, 12, 12]) + noise, Tensor(labels, shape: [count]))
    }

    func testSmallCNNLearnsBarOrientation() {
        manualSeed(0)
        let train = bars(count: 512, key: Key(3)), test = bars(count: 256, key: Key(4))
        let model = Sequential(
            Conv2d(1, 8, kernelSize: 3, padding: 1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
            Conv2d(8, 16, kernelSize: 3, padding: 1), BatchNorm2d(16), ReLU(), AdaptiveAvgPool2d(1),
            Flatten(), Linear(16, 4))
        let optimizer = SGD(model.parameters(), lr: 0.05, momentum: 0.9)
        for epoch in 0..<6 {
            for start in stride(from: 0, to: 512, by: 64) {
                let order = Tensor.arange(from: Double(start), to: Double(start + 64), dtype: .int64)
                let x = train.x.indexSelect(axis: 0, index: order), y = train.y.indexSelect(axis: 0, index: order)
                let loss = crossEntropy(logits: model(x), labels: y)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
            _ = epoch
        }
        model.eval()
        let accuracy = EmberNN.accuracy(logits: model(test.x), labels: test.y).item()
        XCTAssertGreaterThan(accuracy, 0.95, "held-out accuracy on bar orientation")
    }
}
