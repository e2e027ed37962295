// A hand-written training loop, the PyTorch way: a small MLP learns to tell three
// interleaved spirals apart (generated data), then reports held-out accuracy.
//
//     swift run -c release example-training-loop
import Ember
import EmberNN
import EmberOptim

/// Three spirals in the plane, `perClass` points each, with Gaussian jitter; labels 0, 1, 2.
func spirals(perClass: Int, key: Key) -> (points: Tensor, labels: Tensor) {
    let radius = Tensor.randomUniform([3, perClass], low: 0.1, high: 1, dtype: .float32, source: .key(key.fold(in: 0)))
    let jitter = Tensor.randomNormal([3, perClass, 2], std: 0.04, source: .key(key.fold(in: 1)))
    let angle = radius * 4 + Tensor([0, 2.0944, 4.1888] as [Float], shape: [3, 1])
    let points = Tensor.stack([angle.cos() * radius, angle.sin() * radius], axis: 2) + jitter
    let labels = Tensor.arange(3).unsqueezed(axis: 1).expanded(to: [3, perClass])
    return (points.reshaped(to: [-1, 2]), labels.reshaped(to: [-1]))
}

manualSeed(0)
let train = spirals(perClass: 200, key: Key(1)), test = spirals(perClass: 100, key: Key(2))
let model = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 3))
let optimizer = Adam(model.parameters(), lr: 0.01)
let schedule = LRScheduler(optimizer, schedule: CosineAnnealingLR(tMax: 300))

for step in 1...300 {
    let loss = crossEntropy(logits: model(train.points), labels: train.labels)
    optimizer.zeroGrad()
    loss.backward()
    optimizer.step()
    schedule.step()
    if step % 50 == 0 { print("step \(step): loss \(loss.item())") }
}

model.eval()
let accuracy = noGrad { EmberNN.accuracy(logits: model(test.points), labels: test.labels) }.item()
print("held-out accuracy: \(accuracy)")
