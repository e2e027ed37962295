import Ember
import EmberModels
import EmberNN
import EmberOptim
import Foundation

/// One training step (forward, cross-entropy, backward, optimizer step) of a classifier on a
/// fixed random batch: W2 and W3.
final class TrainStepWorkload: Workload {
    let id: String
    let name: String
    let unit: String
    let model: any Layer
    let optimizer: SGD
    let x: Tensor
    let labels: Tensor
    /// Samples per step when the figure is images/s; nil for steps/s.
    let samplesPerStep: Int?

    init(id: String, name: String, model: any Layer, input: [Int], classes: Int, lr: Double, momentum: Double, perSample: Bool) {
        self.id = id
        self.name = name
        self.model = model
        unit = perSample ? "images/s" : "steps/s"
        samplesPerStep = perSample ? input[0] : nil
        optimizer = SGD(model.parameters(), lr: lr, momentum: momentum)
        x = Tensor.randomNormal(input, source: .key(Key(2)))
        labels = Tensor.randomIntegers([input[0]], high: classes, source: .key(Key(3)))
    }

    func timedRun() -> Double {
        elapsed {
            let loss = crossEntropy(logits: model(x), labels: labels)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
    }

    func figure(seconds: Double) -> Double { Double(samplesPerStep ?? 1) / seconds }

    /// W2: MLP 784-512-256-10, batch 128, SGD momentum 0.9.
    static func mlp() -> TrainStepWorkload {
        TrainStepWorkload(id: "W2", name: "mlp-train 784-512-256-10, batch 128",
                          model: Sequential(Linear(784, 512), ReLU(), Linear(512, 256), ReLU(), Linear(256, 10)),
                          input: [128, 784], classes: 10, lr: 0.01, momentum: 0.9, perSample: false)
    }

    /// W3: ResNet-18 (CIFAR variant) on [64, 3, 32, 32], train-mode batch norm, SGD momentum 0.9.
    static func cnn() -> TrainStepWorkload {
        TrainStepWorkload(id: "W3", name: "cnn-train ResNet-18 CIFAR, batch 64", model: ResNet.resnet18Cifar(),
                          input: [64, 3, 32, 32], classes: 10, lr: 0.01, momentum: 0.9, perSample: true)
    }
}
