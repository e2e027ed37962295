import Ember
import EmberData
import EmberDistributed
import EmberRuns
import EmberIO
import EmberNN
import EmberOptim
import EmberTrain
import Foundation

/// How `ember train` shards the training state across its ranks.
enum TrainingSharding: Equatable {
    /// ZeRO: the optimizer state (stage 1) and the gradients (stage 2), by a ShardedOptimizer.
    case zero(ZeroStage)
    /// FSDP: the model cut into fully sharded units as the policy says.
    case fullyShard(FSDPWrap)

    var isFullyShard: Bool {
        if case .fullyShard = self { return true }
        return false
    }
}

/// One `ember train` run: the data, model, optimizer and callbacks built from a
/// configuration, and the files written into the output directory.
final class TrainingRun {
    let config: TrainConfig
    let directory: URL
    let data: TrainingData
    let trainer: Trainer
    /// The ranks training together (one when not data-parallel); rank 0 alone writes and prints.
    let processGroup: any ProcessGroup
    var isMain: Bool { processGroup.rank == 0 }
    let sharding: TrainingSharding?
    /// The model's parameters in all (the trainer's model holds only this rank's under FSDP).
    let parameterCount: Int

    static let lastCheckpointPath = "checkpoints/last.ckpt"
    var lastCheckpoint: URL { directory.appendingPathComponent(Self.lastCheckpointPath) }
    var configURL: URL { directory.appendingPathComponent("config.json") }
    var card: ModelCard { ModelCard(model: config.model, input: data.input, classNames: data.classNames) }

    /// The columns of metrics.csv and the log keys they show.
    static let csvColumns = [
        CSVLogger.Column("epoch"), CSVLogger.Column("train_loss", key: "loss"), CSVLogger.Column("train_accuracy", key: "accuracy"),
        CSVLogger.Column("val_loss"), CSVLogger.Column("val_accuracy"), CSVLogger.Column("lr"), CSVLogger.Column("seconds"),
    ]

    init(config: TrainConfig, directory: URL, workers: Int, checkpointEvery: Int?, processGroup: any ProcessGroup,
         sharding: TrainingSharding? = nil) throws {
        self.config = config
        self.directory = directory
        self.processGroup = processGroup
        self.sharding = sharding
        data = try TrainingData.load(config, workers: workers)
        if processGroup.worldSize > 1 {
            // Fully sharded units need every rank in every forward pass: equal validation shares.
            try Self.shard(data, config: config, group: processGroup, validationMode: sharding?.isFullyShard == true ? .pad : .exact)
        }
        let outputs = ModelCard(model: config.model, input: data.input, classNames: data.classNames).outputs
        if let problem = ModelRegistry.memoryProblem(config.model, input: data.input, classes: outputs, examples: config.batchSize) {
            throw CommandError("model '\(config.model)' for examples of shape \(data.input.shape) and \(outputs) outputs, "
                               + "with --batch-size \(config.batchSize), is too large: \(problem)")
        }
        // The seed fixes the initial weights, dropout and the data order.
        manualSeed(config.seed)
        var model = try ModelRegistry.make(config.model, input: data.input, classes: outputs)
        parameterCount = model.parameterCount
        if case .fullyShard(let wrap)? = sharding { model = try fullyShard(model, group: processGroup, policy: wrap.policy(for: config.model)) }
        var stage: ZeroStage?
        if case .zero(let zeroStage)? = sharding { stage = zeroStage }
        let optimizer = try OptimizerFactory.optimizer(for: model, config, zero: stage.map { ($0, processGroup) })
        var callbacks: [any Callback] = []
        if let schedule = OptimizerFactory.schedule(config, optimizer: optimizer, stepsPerEpoch: data.train.batchesPerEpoch ?? 1) {
            callbacks.append(schedule)
        }
        callbacks += [
            CSVLogger(url: directory.appendingPathComponent("metrics.csv"), columns: Self.csvColumns),
            TensorBoardLogger(logDirectory: directory.appendingPathComponent("tensorboard")),
            ProgressLogger(),
            ModelCheckpoint(directory: directory.appendingPathComponent("checkpoints"), monitor: Monitor("val_accuracy"),
                            everySteps: checkpointEvery, modelName: config.model),
        ]
        let task = Self.task(languageModel: config.isLanguageModel)
        trainer = Trainer(model: model, optimizer: optimizer, loss: task.loss, metrics: task.metrics, callbacks: callbacks,
                          processGroup: processGroup.worldSize > 1 ? processGroup : nil, precision: config.effectivePrecision)
    }

    /// Gives each rank its share: of the training data shuffled by the seed and the epoch
    /// (padded to a multiple of the ranks, as PyTorch's DistributedSampler), and of the
    /// validation data exactly (no example twice, so the metrics are the single-process ones)
    /// unless `validationMode` says otherwise.
    static func shard(_ data: TrainingData, config: TrainConfig, group: any ProcessGroup,
                      validationMode: DistributedSampler.Mode = .exact) throws {
        guard let train = data.train as? any SampledBatchProvider, let validation = data.validation as? any SampledBatchProvider else {
            throw CommandError("data-parallel training needs data loaders whose examples can be sharded")
        }
        train.sampler = DistributedSampler(datasetCount: train.datasetCount, group: group, shuffle: true, seed: config.seed)
        validation.sampler = DistributedSampler(datasetCount: validation.datasetCount, group: group, shuffle: false, mode: validationMode)
    }

    /// Classifiers learn classes; a language model, the next token at every position.
    static func task(languageModel: Bool) -> (loss: any Loss, metrics: [any PredictionMetric]) {
        languageModel ? (NextTokenLoss(), [NextTokenAccuracy()]) : (CrossEntropyLoss(), [Accuracy()])
    }

    /// The checkpoint `--resume` continues from, refused when it has already trained more
    /// than `epochs` epochs.
    static func lastCheckpoint(of directory: URL, epochs: Int) throws -> TrainingCheckpoint {
        let checkpoint = try TrainingCheckpoint(contentsOf: directory.appendingPathComponent(lastCheckpointPath))
        let done = checkpoint.progress.epoch
        guard done <= epochs else {
            throw CommandError("cannot resume with --epochs \(epochs): the run in \(directory.path) has already trained \(done) epochs; "
                               + "give --epochs \(done) or more")
        }
        return checkpoint
    }

    /// Trains, from `checkpoint` when resuming.
    func start(resuming checkpoint: TrainingCheckpoint?) throws {
        if !isMain {
            // The other ranks train and resume alike, and write nothing.
            if let checkpoint {
                try checkpoint.restore(into: trainer, expectingModel: config.model, batchesPerEpoch: data.train.batchesPerEpoch,
                                       source: lastCheckpoint.path)
            }
            if trainer.epoch < config.epochs { try trainer.fit(data.train, epochs: config.epochs, validation: data.validation) }
            return
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandError("cannot create the output directory \(directory.path): \(FileError.systemReason(error))")
        }
        if let checkpoint {
            try checkpoint.restore(into: trainer, expectingModel: config.model, batchesPerEpoch: data.train.batchesPerEpoch,
                                   source: lastCheckpoint.path)
            try config.write(to: configURL)
            let position = trainer.batchInEpoch > 0 ? "at batch \(trainer.batchInEpoch) of epoch \(trainer.epoch + 1)" : "after epoch \(trainer.epoch)"
            print("Resuming \(directory.path) \(position) of \(config.epochs)")
        } else {
            if FileManager.default.fileExists(atPath: lastCheckpoint.path) {
                throw CommandError("\(directory.path) already holds a run; continue it with --resume or choose another --out")
            }
            try config.write(to: configURL)
        }
        try card.write(to: directory)
        print("Training \(config.model) (\(parameterCount.formatted()) parameters) on \(data.description)")
        if processGroup.worldSize > 1 {
            print("Data-parallel on \(processGroup.worldSize) ranks: batch \(config.batchSize) per rank, global batch "
                  + "\(config.batchSize * processGroup.worldSize), learning rate \(config.learningRate)")
        }
        switch sharding {
        case .zero(let stage)?:
            print("ZeRO stage \(stage.rawValue): \(stage == .gradients ? "optimizer state and gradients" : "optimizer state") sharded across \(processGroup.worldSize) rank(s)")
        case .fullyShard(let wrap)?:
            let units = fullyShardedUnits(in: trainer.model, includingNested: true).count
            print("Fully sharded: parameters, gradients and optimizer state sharded across \(processGroup.worldSize) rank(s), \(wrap.description) (\(units) units)")
        case nil:
            break
        }
        if trainer.epoch >= config.epochs {
            print("The run is already complete (\(trainer.epoch) epochs); pass a larger --epochs to train longer.")
        } else {
            try trainer.fit(data.train, epochs: config.epochs, validation: data.validation)
        }
        try writeReport()
    }

    private func writeReport() throws {
        var report = TrainingReport(history: trainer.history, title: "ember train: \(config.model) on \(config.dataset)")
        report.configuration = config.summary.map { (key: $0.0, value: $0.1) }
        let files = try report.write(to: directory)
        let history = trainer.history
        if let accuracies = history["val_accuracy"], let best = accuracies.indices.max(by: { accuracies[$0] < accuracies[$1] }) {
            print(String(format: "Best validation accuracy %.2f%% (epoch %d); final %.2f%%", accuracies[best] * 100, best + 1,
                         accuracies.last! * 100))
        }
        if let seconds = history["seconds"] {
            print(String(format: "Training time %.1f s", seconds.reduce(0, +)))
        }
        print("Wrote \(directory.path)/: metrics.csv, checkpoints/, tensorboard/, \(files.svg.lastPathComponent), \(files.markdown.lastPathComponent)")
    }
}
