import Ember
import EmberData
import EmberNN

/// What training minimises and reports, output by output (Keras's compiled losses, loss
/// weights and metrics). A model with one output has one `Output`, unnamed, whose logs are
/// `loss` and the metrics' own names. A model with named outputs (`NamedIOModel`) logs the
/// weighted sum of its outputs' losses as `loss`, each output's loss as `NAME_loss` (with
/// several outputs) and each metric as `NAME_METRIC`, Keras's names.
struct Objective {
    struct Output {
        let name: String
        /// nil for an output that is not trained on (its metrics are still reported).
        let loss: ((Tensor, Tensor) -> Tensor)?
        let weight: Double
        /// The running mean of this output's loss, logged beside the total with several outputs.
        let meanLoss: Mean?
        let metrics: [any PredictionMetric]
    }

    let outputs: [Output]
    /// Whether the model takes and gives tensors by name.
    let isNamed: Bool

    /// Everything reported besides the total loss, in a fixed order (the same on every rank).
    var metrics: [any Metric] {
        outputs.flatMap { output in (output.meanLoss.map { [$0 as any Metric] } ?? []) + output.metrics.map { $0 as any Metric } }
    }

    /// A model of one input and one output.
    static func single(loss: @escaping (Tensor, Tensor) -> Tensor, metrics: [any PredictionMetric]) -> Objective {
        Objective(outputs: [Output(name: Batch.unnamed, loss: loss, weight: 1, meanLoss: nil, metrics: metrics)], isNamed: false)
    }

    /// A model with named outputs: `losses`, `lossWeights` (1 where not given) and `metrics`
    /// by output name.
    static func named(_ model: any NamedIOModel, losses: [String: any Loss], lossWeights: [String: Double],
                      metrics: [String: [any PredictionMetric]]) -> Objective {
        let names = model.outputNames
        func check(_ keys: Dictionary<String, some Any>.Keys, _ argument: String) {
            for key in keys.sorted() where !names.contains(key) {
                preconditionFailure("Trainer: \(argument) names the output '\(key)', which the model lacks (outputs: \(names.joined(separator: ", ")))")
            }
        }
        check(losses.keys, "losses")
        check(lossWeights.keys, "lossWeights")
        check(metrics.keys, "metrics")
        precondition(!losses.isEmpty, "Trainer: needs a loss for at least one of the outputs \(names.joined(separator: ", "))")
        for (name, weight) in lossWeights.sorted(by: { $0.key < $1.key }) {
            precondition(weight.isFinite && weight >= 0, "Trainer: lossWeights['\(name)'] must be a finite number >= 0, got \(weight)")
            precondition(losses[name] != nil, "Trainer: lossWeights names the output '\(name)', which has no loss")
        }
        let given = metrics.values.joined().map(ObjectIdentifier.init)
        precondition(Set(given).count == given.count, "Trainer: a metric object is given twice; give each output its own instances")
        let several = losses.count > 1
        let outputs = names.map { name in
            Output(name: name, loss: losses[name].map { loss in { loss($0, $1) } }, weight: lossWeights[name] ?? 1,
                   meanLoss: several && losses[name] != nil ? Mean(name: "\(name)_loss") : nil,
                   metrics: (metrics[name] ?? []).map { OutputMetric.wrapping($0, output: name) })
        }
        return Objective(outputs: outputs, isNamed: true)
    }

    /// The model's outputs for `batch`, by output name.
    func predictions(of model: any Layer, for batch: Batch) -> [String: Tensor] {
        isNamed ? namedPredictions(of: model as! any NamedIOModel, for: batch) : [Batch.unnamed: model(batch.inputs)]
    }

    /// The targets of `output` in `batch`: the one named after it, or the batch's only target.
    private func targets(_ output: Output, in batch: Batch) -> Tensor {
        if let tensor = batch.namedTargets[output.name] { return tensor }
        if batch.namedTargets.count == 1 && outputs.count == 1 { return batch.namedTargets.first!.value }
        preconditionFailure("Trainer: the batch has no targets for the output '\(output.name)' (the batch's targets: "
                            + "\(batch.namedTargets.keys.sorted().joined(separator: ", ")))")
    }

    /// The loss to minimise (the weighted sum over the outputs), and each output's own loss.
    func loss(_ predictions: [String: Tensor], _ batch: Batch) -> (total: Tensor, parts: [Tensor?]) {
        var total: Tensor?
        let parts = outputs.map { output -> Tensor? in
            guard let loss = output.loss else { return nil }
            let value = loss(predictions[output.name]!, targets(output, in: batch))
            let weighted = output.weight == 1 ? value : value * Tensor(Float(output.weight))
            total = total.map { $0 + weighted } ?? weighted
            return value
        }
        return (total!, parts)
    }

    /// Adds a batch to the outputs' running losses and metrics.
    func record(parts: [Tensor?], predictions: [String: Tensor], batch: Batch) {
        for (output, part) in zip(outputs, parts) {
            if let part, let meanLoss = output.meanLoss { meanLoss.update(part.item(), weight: Double(batch.count)) }
            if output.metrics.isEmpty { continue }
            let predicted = predictions[output.name]!.detached()
            let expected = targets(output, in: batch)
            for metric in output.metrics { metric.update(predictions: predicted, targets: expected) }
        }
    }

    func reset() {
        for metric in metrics { metric.reset() }
    }

    /// The total loss and every metric, as logs.
    func logs(loss: Mean) -> [String: Double] {
        var logs = ["loss": loss.result]
        for metric in metrics { logs[metric.name] = metric.result }
        return logs
    }
}

/// A named model's outputs for `batch`: its inputs by name (a model of one input takes a
/// batch's only input whatever its name).
func namedPredictions(of model: any NamedIOModel, for batch: Batch) -> [String: Tensor] {
    if model.inputNames.count == 1, batch.namedInputs.count == 1 {
        return model([model.inputNames[0]: batch.namedInputs.first!.value])
    }
    var inputs: [String: Tensor] = [:]
    for name in model.inputNames {
        guard let tensor = batch.namedInputs[name] else {
            preconditionFailure("the batch has no input '\(name)' (the model's inputs: \(model.inputNames.joined(separator: ", ")); "
                                + "the batch's: \(batch.namedInputs.keys.sorted().joined(separator: ", ")))")
        }
        inputs[name] = tensor
    }
    return model(inputs)
}

/// A metric of one named output, logged as `OUTPUT_METRIC` (Keras's `priority_accuracy`).
class OutputMetric: PredictionMetric {
    let metric: any PredictionMetric
    let name: String

    fileprivate init(_ metric: any PredictionMetric, output: String) {
        self.metric = metric
        name = "\(output)_\(metric.name)"
    }

    /// A resumable metric stays resumable.
    static func wrapping(_ metric: any PredictionMetric, output: String) -> OutputMetric {
        metric is any ResumableMetric ? ResumableOutputMetric(metric, output: output) : OutputMetric(metric, output: output)
    }

    var result: Double { metric.result }
    func reset() { metric.reset() }
    func update(predictions: Tensor, targets: Tensor) { metric.update(predictions: predictions, targets: targets) }
}

final class ResumableOutputMetric: OutputMetric, ResumableMetric {
    var accumulators: [Double] { (metric as! any ResumableMetric).accumulators }
    func restore(accumulators: [Double]) throws { try (metric as! any ResumableMetric).restore(accumulators: accumulators) }
}
