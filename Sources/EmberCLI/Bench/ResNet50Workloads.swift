import Ember
import EmberModels
import EmberNN
import Foundation

/// W4: ResNet-50 v1.5 in eval mode on [8, 3, 224, 224], without the tape. Compiled, the
/// forward is `compile(_, options: .inference)`: the weights are fixed, so batch norm folds
/// into the convolutions and the elementwise tails (residual add, ReLU) fuse. With
/// `fastMath` (`ember bench --fast-math`) the compiled 3×3 convolutions use Winograd's algorithm.
final class ResNet50InferenceWorkload: Workload {
    let compiled: Bool
    var fastMath = false
    var impl: String { compiled ? "ember-compiled" : "ember" }
    var id: String { "W4" }
    var name: String { "resnet50-infer eval, [8, 3, 224, 224]" + (compiled ? ", compiled" + (fastMath ? ", Winograd (fast math)" : "") : "") }
    var unit: String { "images/s" }
    let batch = 8
    private var model: ResNet!
    private var x: Tensor!
    private var forward: CompiledFunction!
    /// With `fastMath`: the largest difference of the logits from the direct convolutions'
    /// (compiled without Winograd), relative to the largest logit.
    private(set) var winogradRelativeError: Double?

    init(compiled: Bool) {
        self.compiled = compiled
    }

    func prepare() {
        let model = ResNet.resnet50().eval()
        self.model = model
        x = Tensor.randomNormal([batch, 3, 224, 224], source: .key(Key(4)))
        if compiled {
            var options = CompileOptions.inference
            options.winograd = fastMath
            forward = compile({ (xs: [Tensor]) in [model(xs[0])] }, options: options)
            if fastMath {
                let direct = compile({ (xs: [Tensor]) in [model(xs[0])] }, options: .inference)
                let (exact, fast) = noGrad { (direct(x), forward(x)) }
                winogradRelativeError = (fast - exact).abs().max().item() / exact.abs().max().item()
            }
        }
    }

    func timedRun() -> Double {
        noGrad { compiled ? elapsed { _ = forward(x) } : elapsed { _ = model(x) } }
    }

    func figure(seconds: Double) -> Double { Double(batch) / seconds }
}

extension TrainStepWorkload {
    /// W5: ResNet-50 v1.5 in train mode on [8, 3, 224, 224], 1000 classes, plain SGD.
    static func resnet50() -> TrainStepWorkload {
        TrainStepWorkload(id: "W5", name: "resnet50-train, batch 8, plain SGD", model: { ResNet.resnet50() },
                          input: [8, 3, 224, 224], classes: 1000, lr: 0.01, momentum: 0, perSample: true)
    }
}
