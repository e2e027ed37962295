import Ember
import EmberData
import EmberNN

/// The mean loss (weighted by batch size) and the metrics over all of `data`'s batches
/// (its epoch 0), in evaluation mode and without gradients (Keras's `evaluate`); the
/// model's mode is restored afterwards. Keys: `loss` and each metric's name.
public func evaluate(_ model: any Layer, _ data: any BatchProvider, loss: (Tensor, Tensor) -> Tensor,
                     metrics: [any PredictionMetric] = []) -> [String: Double] {
    let meanLoss = Mean(name: "loss")
    evaluateAccumulating(model, data, loss: loss, into: meanLoss, metrics: metrics)
    return logsOf(loss: meanLoss, metrics: metrics)
}

/// `evaluate`'s pass, leaving the loss in `meanLoss` and the values in `metrics` (reset first).
func evaluateAccumulating(_ model: any Layer, _ data: any BatchProvider, loss: (Tensor, Tensor) -> Tensor, into meanLoss: Mean,
                          metrics: [any PredictionMetric]) {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    for metric in metrics { metric.reset() }
    let batches = data.batches(epoch: 0, skipping: 0)
    noGrad {
        while let batch = batches.next() {
            let predictions = model(batch.inputs)
            meanLoss.update(loss(predictions, batch.targets).item(), weight: Double(batch.count))
            for metric in metrics { metric.update(predictions: predictions, targets: batch.targets) }
        }
    }
}

/// The model's outputs for every batch of `data` (its epoch 0), concatenated along the
/// batch axis, in evaluation mode (Keras's `predict`); the batches' targets are ignored.
public func predict(_ model: any Layer, _ data: any BatchProvider) -> Tensor {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    let batches = data.batches(epoch: 0, skipping: 0)
    var outputs: [Tensor] = []
    noGrad {
        while let batch = batches.next() { outputs.append(model(batch.inputs)) }
    }
    precondition(!outputs.isEmpty, "predict: the data has no batches")
    return outputs.count == 1 ? outputs[0] : Tensor.concatenate(outputs, axis: 0)
}

/// The `loss` and metric values as logs.
func logsOf(loss: Mean, metrics: [any PredictionMetric]) -> [String: Double] {
    var logs = ["loss": loss.result]
    for metric in metrics { logs[metric.name] = metric.result }
    return logs
}
