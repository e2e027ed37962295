import ArgumentParser
import Ember

/// The README's first command until `ember train` exists: a small classifier trained with
/// autograd and a hand-written SGD loop on generated data.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small MLP with autograd on generated two-spiral data and print the loss.")

    @Option(help: "Training steps.") var steps = 300
    @Option(help: "Learning rate.") var lr = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() {
        manualSeed(seed)
        let (x, labels) = Demo.spirals(count: 512)
        let hidden = 64
        // Kaiming-uniform-like scaling keeps the ReLU activations in range.
        let w1 = (Tensor.randomUniform([2, hidden], low: -1, high: 1) * (6.0 / 2).squareRoot()).requiringGrad()
        let b1 = Tensor.zeros([hidden]).requiringGrad()
        let w2 = (Tensor.randomUniform([hidden, hidden], low: -1, high: 1) * (6.0 / Double(hidden)).squareRoot()).requiringGrad()
        let b2 = Tensor.zeros([hidden]).requiringGrad()
        let w3 = (Tensor.randomUniform([hidden, 2], low: -1, high: 1) * (1.0 / Double(hidden)).squareRoot()).requiringGrad()
        let b3 = Tensor.zeros([2]).requiringGrad()
        let parameters = [w1, b1, w2, b2, w3, b3]
        let targets = labels.oneHot(classes: 2)

        func logits(_ input: Tensor) -> Tensor {
            let h1 = (matmul(input, w1) + b1).relu()
            let h2 = (matmul(h1, w2) + b2).relu()
            return matmul(h2, w3) + b3
        }

        print("Training a 2-64-64-2 MLP on \(x.shape[0]) points of two interleaved spirals")
        for step in 1...steps {
            let loss = -(logits(x).logSoftmax(axis: 1) * targets).sum(axis: 1).mean()
            loss.backward()
            noGrad {
                for p in parameters {
                    let updated = p - p.grad! * lr
                    p.assign(updated)
                    p.zeroGrad()
                }
            }
            if step == 1 || step % 50 == 0 || step == steps {
                let accuracy = noGrad { (logits(x).argmax(axis: 1) .== labels).cast(to: .float32).mean().item() }
                print("step \(step)  loss \(String(format: "%.4f", loss.item()))  accuracy \(String(format: "%.1f%%", accuracy * 100))")
            }
        }
    }

    /// Two interleaved spirals with a little noise: not linearly separable.
    static func spirals(count: Int) -> (Tensor, Tensor) {
        let t = Tensor.randomUniform([count], low: 0.25, high: 1)
        let labels = Tensor.randomIntegers([count], high: 2)
        let angle = t * (3 * Double.pi) + labels.cast(to: .float32) * Double.pi
        let noise = Tensor.randomNormal([count, 2], std: 0.03)
        let points = Tensor.stack([t * angle.cos(), t * angle.sin()], axis: 1) + noise
        return (points, labels)
    }
}
