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
    /// Samples per step when the figure is images/s; nil for steps/s.
    let samplesPerStep: Int?
    private let setUp: () -> (model: any Layer, optimizer: SGD, x: Tensor, labels: Tensor)
    private var model: (any Layer)!
    private var optimizer: SGD!
    private var x: Tensor!
    private var labels: Tensor!

    init(id: String, name: String, model: @escaping () -> any Layer, input: [Int], classes: Int, lr: Double,
         momentum: Double, perSample: Bool) {
        self.id = id
        self.name = name
        unit = perSample ? "images/s" : "steps/s"
        samplesPerStep = perSample ? input[0] : nil
        setUp = {
            let network = model()
            return (network, SGD(network.parameters(), lr: lr, momentum: momentum),
                    Tensor.randomNormal(input, source: .key(Key(2))),
                    Tensor.randomIntegers([input[0]], high: classes, source: .key(Key(3))))
        }
    }

    /// Builds the model only for a run that includes this workload.
    func prepare() {
        (model, optimizer, x, labels) = setUp()
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
                          model: { Sequential(Linear(784, 512), ReLU(), Linear(512, 256), ReLU(), Linear(256, 10)) },
                          input: [128, 784], classes: 10, lr: 0.01, momentum: 0.9, perSample: false)
    }

    /// W3: ResNet-18 (CIFAR variant) on [64, 3, 32, 32], train-mode batch norm, SGD momentum 0.9.
    static func cnn() -> TrainStepWorkload {
        TrainStepWorkload(id: "W3", name: "cnn-train ResNet-18 CIFAR, batch 64", model: { ResNet.resnet18Cifar() },
                          input: [64, 3, 32, 32], classes: 10, lr: 0.01, momentum: 0.9, perSample: true)
    }
}
