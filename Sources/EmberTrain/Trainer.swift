import Ember
import EmberData
import EmberDistributed
import EmberNN
import EmberOptim
import Foundation

/// A model with what trains it (Keras's compiled model): the optimizer, the loss, the
/// metrics and the callbacks, plus the progress that a training checkpoint saves — epochs
/// done, optimizer steps, the history. `fit` continues from there, so a trainer restored
/// from a checkpoint picks up where the saved run stopped.
///
/// With a `processGroup` of several ranks, `fit` trains data-parallel: each rank runs it on
/// its own share of the data (a `DataLoader` with a `DistributedSampler`), the model is
/// wrapped in `DistributedDataParallel` (rank 0's weights copied to every rank, gradients
/// averaged), the epoch's loss and metrics are summed over the ranks (each rank's metrics
/// must be `ResumableMetric`s, whose accumulators add up; validation data should be
/// sharded with the sampler's `exact` mode), and callbacks that write (logs, TensorBoard,
/// checkpoints, progress) run on rank 0 alone.
///
/// With sharded training state — a `ShardedOptimizer` (ZeRO stages 1 and 2) or a model of
/// `FullyShardedModule` units (FSDP) — the model is not wrapped in DistributedDataParallel
/// (the sharded optimizer or the units average the gradients themselves); rank 0's buffers
/// are copied to every rank before each training step, as DistributedDataParallel does;
/// and callbacks that save (`ModelCheckpoint`) run on every rank, since the consolidated
/// state they save is gathered from all of them, while rank 0 alone writes it. Loss scaling
/// (float16) is refused there: the ranks would decide separately whether to skip a step.
///
/// A model with named inputs and outputs (a `FunctionalModel`, any `NamedIOModel`) trains on
/// named batches (`NamedTensorDataset`) with a loss per output, weighted into the total, and
/// metrics per output, as Keras's `compile(loss={...}, loss_weights={...}, metrics={...})`.
public final class Trainer {
    public let model: any Layer
    public let optimizer: any OptimizerProtocol
    let objective: Objective
    /// What is reported besides the loss: the metrics, and with several outputs their losses.
    public var metrics: [any Metric] { objective.metrics }
    public var callbacks: [any Callback]
    /// The ranks training together; nil (or a group of one) trains in this process alone.
    public let processGroup: (any ProcessGroup)?
    /// The precision the forward pass and the loss run in (`autocast`); parameters,
    /// gradients and the optimizer stay float32.
    public let precision: Precision
    /// Loss scaling for float16 (made by default for `.fp16`); saved in training checkpoints.
    public let gradScaler: GradScaler?
    /// The model wrapped for data-parallel training, made by the first `fit`.
    private var dataParallel: DistributedDataParallel?

    /// Epochs completed; the next epoch trained is this one (counted from 0).
    public internal(set) var epoch = 0
    /// Batches completed of the current epoch (nonzero only in a checkpoint taken, or a
    /// trainer restored, in the middle of an epoch).
    public internal(set) var batchInEpoch = 0
    /// The current epoch's running mean loss, weighted by batch size.
    public let epochLoss = Mean(name: "loss")
    /// Optimizer steps taken.
    public internal(set) var globalStep = 0
    public internal(set) var history = History()
    /// The number of epochs the running `fit` trains to.
    public private(set) var targetEpochs = 0
    /// Batches per epoch of the running `fit`'s data, when known.
    public private(set) var batchesPerEpoch: Int?
    /// Set by a callback to end training after the current epoch (early stopping).
    public var stopTraining = false
    /// Where the last epoch's time went.
    public private(set) var lastEpochTiming: EpochTiming?
    /// Examples trained on so far in the current epoch, and when the epoch began (for rates).
    public private(set) var epochSamples = 0
    public private(set) var epochStart = ContinuousClock.now

    public convenience init(model: any Layer, optimizer: any OptimizerProtocol, loss: @escaping (Tensor, Tensor) -> Tensor,
                            metrics: [any PredictionMetric] = [], callbacks: [any Callback] = [], processGroup: (any ProcessGroup)? = nil,
                            precision: Precision = .fp32, gradScaler: GradScaler? = nil) {
        self.init(model: model, optimizer: optimizer, objective: .single(loss: loss, metrics: metrics), callbacks: callbacks,
                  processGroup: processGroup, precision: precision, gradScaler: gradScaler)
    }

    /// A model with named outputs: `losses` and `metrics` by output name (outputs without a
    /// loss are not trained on), each loss weighted by `lossWeights` (1 where not given) in
    /// the total that is minimised.
    public convenience init(model: any NamedIOModel, optimizer: any OptimizerProtocol, losses: [String: any Loss],
                            lossWeights: [String: Double] = [:], metrics: [String: [any PredictionMetric]] = [:],
                            callbacks: [any Callback] = [], processGroup: (any ProcessGroup)? = nil,
                            precision: Precision = .fp32, gradScaler: GradScaler? = nil) {
        self.init(model: model, optimizer: optimizer,
                  objective: .named(model, losses: losses, lossWeights: lossWeights, metrics: metrics),
                  callbacks: callbacks, processGroup: processGroup, precision: precision, gradScaler: gradScaler)
    }

    private init(model: any Layer, optimizer: any OptimizerProtocol, objective: Objective, callbacks: [any Callback],
                 processGroup: (any ProcessGroup)?, precision: Precision, gradScaler: GradScaler?) {
        self.precision = precision
        self.gradScaler = gradScaler ?? (precision == .fp16 ? GradScaler() : nil)
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        self.callbacks = callbacks
        self.processGroup = processGroup
    }

    public convenience init(model: any Layer, optimizer: any OptimizerProtocol, loss: some Loss,
                            metrics: [any PredictionMetric] = [], callbacks: [any Callback] = [],
                            processGroup: (any ProcessGroup)? = nil, precision: Precision = .fp32, gradScaler: GradScaler? = nil) {
        self.init(model: model, optimizer: optimizer, loss: { loss($0, $1) }, metrics: metrics, callbacks: callbacks,
                  processGroup: processGroup, precision: precision, gradScaler: gradScaler)
    }

    /// The number of ranks training together.
    public var worldSize: Int { processGroup?.worldSize ?? 1 }
    /// Whether this process writes logs and checkpoints (rank 0, or the only one).
    public var isMainRank: Bool { (processGroup?.rank ?? 0) == 0 }
    /// Whether the optimizer or the model holds state sharded across ranks, so that taking a
    /// checkpoint is a collective in which every rank must take part.
    public var holdsShardedState: Bool {
        optimizer is any ShardedTrainingState || !fullyShardedUnits(in: model).isEmpty
    }

    /// Trains until `epochs` epochs are complete in all (a restored trainer continues from
    /// its `epoch`), evaluating on `validation` after each, and returns the whole history.
    @discardableResult
    public func fit(_ data: any BatchProvider, epochs: Int, validation: (any BatchProvider)? = nil) throws -> History {
        precondition(epochs >= 0, "Trainer.fit: epochs must not be negative, got \(epochs)")
        targetEpochs = epochs
        batchesPerEpoch = data.batchesPerEpoch
        stopTraining = false
        // Saving callbacks run after the others at every event, so that what they save
        // includes the others' updates (a schedule's step, early stopping's count).
        let sharded = holdsShardedState
        if sharded && gradScaler != nil {
            throw CallbackError("loss scaling (float16) cannot train a ShardedOptimizer or fully sharded units: each rank would decide alone whether to skip a step; train in fp32 or bf16")
        }
        let callbacks = (callbacks.filter { $0.phase == .normal } + callbacks.filter { $0.phase == .saving })
            .filter { isMainRank || $0.runsOnEveryRank || (sharded && $0.phase == .saving) }
        if let processGroup, processGroup.worldSize > 1, dataParallel == nil, !sharded {
            dataParallel = try DistributedDataParallel(model, group: processGroup)
        }
        // Fully sharded units' layers are in the model's tree: their buffers are among these.
        let buffersToShare = sharded && worldSize > 1 ? model.namedBuffers().map(\.1) : []
        for callback in callbacks { try callback.trainBegan(self) }
        while epoch < epochs && !stopTraining {
            for callback in callbacks { try callback.epochBegan(epoch, trainer: self) }
            var logs = try trainEpoch(data, callbacks: callbacks, buffersToShare: buffersToShare)
            if let validation {
                for (name, value) in try record("validation", { try evaluateAcrossRanks(validation) }) { logs["val_" + name] = value }
            }
            logs["seconds"] = lastEpochTiming!.seconds
            let finished = epoch
            history.record(epoch: finished, logs: logs)
            epoch += 1
            batchInEpoch = 0
            // Callbacks see the epoch as done, so a checkpoint saved now resumes with the next.
            for callback in callbacks { try callback.epochEnded(finished, logs: logs, trainer: self) }
        }
        for callback in callbacks { try callback.trainEnded(self) }
        return history
    }

    /// One pass over the epoch's batches in training mode (the rest of it, for a trainer
    /// restored mid-epoch); the logs hold the sample-weighted mean loss, the metrics and the
    /// learning rate in effect. `buffersToShare` get rank 0's values before each step.
    private func trainEpoch(_ data: any BatchProvider, callbacks: [any Callback], buffersToShare: [Tensor]) throws -> [String: Double] {
        model.train()
        if batchInEpoch == 0 {
            epochLoss.reset()
            objective.reset()
        }
        let clock = ContinuousClock()
        let start = clock.now
        epochStart = start
        epochSamples = 0
        var waiting = Duration.zero
        let batches = data.batches(epoch: epoch, skipping: batchInEpoch)
        var trained = 0
        while true {
            let waitStart = clock.now
            // Named for the profiler (free when nothing profiles).
            guard let batch = record("data", { batches.next() }) else { break }
            waiting += clock.now - waitStart
            for callback in callbacks { try callback.batchBegan(batchInEpoch, trainer: self) }

            optimizer.zeroGrad()
            if let processGroup, !buffersToShare.isEmpty { try broadcastCoalesced(buffersToShare, from: 0, in: processGroup) }
            let (predictions, parts, value) = precision.run {
                let predictions = forward(batch)
                let (value, parts) = objective.loss(predictions, batch)
                return (predictions, parts, value)
            }
            if let gradScaler {
                gradScaler.scaled(value).backward()
                gradScaler.step(optimizer)
                gradScaler.update()
            } else {
                value.backward()
                optimizer.step()
            }
            globalStep += 1
            epochSamples += batch.count
            trained += 1

            epochLoss.update(value.item(), weight: Double(batch.count))
            objective.record(parts: parts, predictions: predictions, batch: batch)
            let logs = objective.logs(loss: epochLoss)
            let index = batchInEpoch
            batchInEpoch += 1
            for callback in callbacks { try callback.batchEnded(index, logs: logs, trainer: self) }
        }
        lastEpochTiming = EpochTiming(seconds: (clock.now - start).seconds, waitingForData: waiting.seconds, batches: trained)
        try sumAcrossRanks([epochLoss] + metrics)
        var logs = objective.logs(loss: epochLoss)
        logs["lr"] = optimizer.learningRates.first ?? .nan
        return logs
    }

    /// The model's outputs for a training batch, through the data-parallel wrapper when
    /// there is one.
    private func forward(_ batch: Batch) -> [String: Tensor] {
        guard let dataParallel else { return objective.predictions(of: model, for: batch) }
        return dataParallel.forwardPass { objective.predictions(of: model, for: batch) }
    }

    /// The mean loss and the metrics over all of `data`'s batches; see `evaluate(_:_:loss:metrics:)`.
    /// Data-parallel, each rank evaluates its share and the results are summed over the ranks
    /// (ranks out of step stop the process with the collective's error).
    public func evaluate(_ data: any BatchProvider) -> [String: Double] {
        do {
            return try evaluateAcrossRanks(data)
        } catch {
            fatalError("Trainer.evaluate: \(error)")
        }
    }

    private func evaluateAcrossRanks(_ data: any BatchProvider) throws -> [String: Double] {
        let meanLoss = Mean(name: "loss")
        precision.run { evaluateAccumulating(model, data, objective, into: meanLoss) }
        try sumAcrossRanks([meanLoss] + metrics)
        return objective.logs(loss: meanLoss)
    }

    /// Replaces each metric's accumulators by their sum over the ranks: the metric of the
    /// union of the ranks' data.
    private func sumAcrossRanks(_ metrics: [any Metric]) throws {
        guard let processGroup, processGroup.worldSize > 1 else { return }
        var resumable = [any ResumableMetric]()
        for metric in metrics {
            guard let metric = metric as? any ResumableMetric else {
                throw MetricStateError("data-parallel training needs metrics whose accumulators add up across ranks (ResumableMetric); \(metric.name) is not one")
            }
            resumable.append(metric)
        }
        let values = resumable.flatMap(\.accumulators)
        let summed = Tensor(values, shape: [values.count])
        try processGroup.allReduce(summed, op: .sum)
        var all = summed.scalars(as: Double.self)[...]
        for metric in resumable {
            let count = metric.accumulators.count
            try metric.restore(accumulators: Array(all.prefix(count)))
            all = all.dropFirst(count)
        }
    }

    /// The model's outputs for all of `data`; see `predict(_:_:)`.
    public func predict(_ data: any BatchProvider) -> Tensor {
        precision.run { EmberTrain.predict(model, data) }
    }

    /// A named model's outputs for all of `data`, by name; see `predictOutputs(_:_:)`.
    public func predictOutputs(_ data: any BatchProvider) -> [String: Tensor] {
        guard let model = model as? any NamedIOModel else {
            preconditionFailure("Trainer.predictOutputs: the model has no named outputs; use predict")
        }
        return precision.run { EmberTrain.predictOutputs(model, data) }
    }
}

/// Where an epoch's time went: waiting for the next batch against the whole epoch.
public struct EpochTiming: Equatable, Sendable {
    public var seconds: Double
    public var waitingForData: Double
    public var batches: Int

    /// The fraction of the epoch spent waiting for data (0 when the loader keeps up).
    public var dataWaitFraction: Double { seconds > 0 ? waitingForData / seconds : 0 }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// Trains `model` on `data` for `epochs` epochs (Keras's `model.fit`); see `Trainer`.
@discardableResult
public func fit(_ model: any Layer, _ data: any BatchProvider, epochs: Int, validation: (any BatchProvider)? = nil,
                optimizer: any OptimizerProtocol, loss: @escaping (Tensor, Tensor) -> Tensor,
                metrics: [any PredictionMetric] = [], callbacks: [any Callback] = []) throws -> History {
    try Trainer(model: model, optimizer: optimizer, loss: loss, metrics: metrics, callbacks: callbacks)
        .fit(data, epochs: epochs, validation: validation)
}
