import Ember
import EmberNN
import Foundation

/// W2: one SGD-momentum training step of an MLP 784-512-256-10 on a batch of 128.
final class MLPTrainWorkload: Workload {
    var id: String { "W2" }
    var name: String { "mlp-train 784-512-256-10, batch 128" }
    var unit: String { "steps/s" }
    let model = Sequential(Linear(784, 512), ReLU(), Linear(512, 256), ReLU(), Linear(256, 10))
    let x = Tensor.randomNormal([128, 784], source: .key(Key(2)))
    let labels = Tensor.randomIntegers([128], high: 10, source: .key(Key(3)))
    lazy var velocities = model.parameters().map { Tensor.zeros(like: $0) }

    func timedRun() -> Double {
        elapsed {
            let logits = model(x)
            let loss = -logits.logSoftmax(axis: 1).gather(axis: 1, index: labels.unsqueezed(axis: 1)).mean()
            model.zeroGrad()
            loss.backward()
            noGrad {
                for (p, v) in zip(model.parameters(), velocities) {
                    v.assign(v * 0.9 + p.grad!)
                    p.assign(p - v * 0.01)
                }
            }
        }
    }

    func figure(seconds: Double) -> Double { 1 / seconds }
}
