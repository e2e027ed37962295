import Ember
import EmberData
import EmberNN

/// The mean loss (weighted by batch size) and the metrics over all of `data`'s batches
/// (its epoch 0), in evaluation mode and without gradients (Keras's `evaluate`); the
/// model's mode is restored afterwards. Keys: `loss` and each metric's name.
public func evaluate(_ model: any Layer, _ data: any BatchProvider, loss: @escaping (Tensor, Tensor) -> Tensor,
                     metrics: [any PredictionMetric] = []) -> [String: Double] {
    evaluate(model, data, .single(loss: loss, metrics: metrics))
}

/// `evaluate` for a model with named outputs: a loss and metrics per output, as `Trainer`
/// takes them. Keys: `loss` (the weighted total), `NAME_loss` with several losses, and
/// `NAME_METRIC`.
public func evaluate(_ model: any NamedIOModel, _ data: any BatchProvider, losses: [String: any Loss],
                     lossWeights: [String: Double] = [:], metrics: [String: [any PredictionMetric]] = [:]) -> [String: Double] {
    evaluate(model, data, .named(model, losses: losses, lossWeights: lossWeights, metrics: metrics))
}

private func evaluate(_ model: any Layer, _ data: any BatchProvider, _ objective: Objective) -> [String: Double] {
    let meanLoss = Mean(name: "loss")
    evaluateAccumulating(model, data, objective, into: meanLoss)
    return objective.logs(loss: meanLoss)
}

/// `evaluate`'s pass, leaving the loss in `meanLoss` and the values in the objective's
/// metrics (reset first).
func evaluateAccumulating(_ model: any Layer, _ data: any BatchProvider, _ objective: Objective, into meanLoss: Mean) {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    objective.reset()
    let batches = data.batches(epoch: 0, skipping: 0)
    noGrad {
        while let batch = batches.next() {
            let predictions = objective.predictions(of: model, for: batch)
            let (total, parts) = objective.loss(predictions, batch)
            meanLoss.update(total.item(), weight: Double(batch.count))
            objective.record(parts: parts, predictions: predictions, batch: batch)
        }
    }
}

/// The model's outputs for every batch of `data` (its epoch 0), concatenated along the
/// batch axis, in evaluation mode (Keras's `predict`); the batches' targets are ignored.
public func predict(_ model: any Layer, _ data: any BatchProvider) -> Tensor {
    predictAll(model, data) { [Batch.unnamed: model($0.inputs)] }[Batch.unnamed]!
}

/// `predict` for a model with named inputs and outputs: every output for all of `data`, by
/// output name.
public func predictOutputs(_ model: any NamedIOModel, _ data: any BatchProvider) -> [String: Tensor] {
    predictAll(model, data) { namedPredictions(of: model, for: $0) }
}

private func predictAll(_ model: any Layer, _ data: any BatchProvider, _ run: (Batch) -> [String: Tensor]) -> [String: Tensor] {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    let batches = data.batches(epoch: 0, skipping: 0)
    var outputs: [[String: Tensor]] = []
    noGrad {
        while let batch = batches.next() { outputs.append(run(batch)) }
    }
    precondition(!outputs.isEmpty, "predict: the data has no batches")
    return outputs[0].keys.reduce(into: [:]) { result, name in
        let parts = outputs.map { $0[name]! }
        result[name] = parts.count == 1 ? parts[0] : Tensor.concatenate(parts, axis: 0)
    }
}
