import ArgumentParser
import Ember
import EmberDistributed
import EmberRuns
import EmberNN
import EmberTrain
import Foundation

/// `ember train`: trains a model on a dataset with `fit`, writing metrics, checkpoints,
/// TensorBoard events and a report into the output directory; `--resume` continues a run
/// from its last checkpoint exactly as if it had never stopped.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model; by default a small ResNet on the built-in shapes dataset.",
        discussion: """
        Writes into --out: config.json, metrics.csv (one row per epoch), checkpoints/last.ckpt and \
        best.ckpt, tensorboard/ (event files) and at the end report.svg and report.md. \
        --resume continues from checkpoints/last.ckpt (saved at every epoch's end and every \
        --checkpoint-every steps) with the run's saved settings; only --epochs (to train longer), \
        --workers, --checkpoint-every and the distribution (--nproc, --zero, --fsdp, --fsdp-wrap: checkpoints hold \
        the consolidated state) may change.
        """)

    @Option(help: "Model: \(ModelRegistry.names.joined(separator: ", ")). [default: resnet8]") var model: String?
    @Option(help: "Dataset: \(TrainConfig.datasets.joined(separator: ", ")). [default: shapes; reviews for text models]") var dataset: String?
    @Option(help: "The dataset's files: a directory of MNIST IDX files, CIFAR-10 .bin batches or TFRecord shards (train-*, validation-*), a .csv file, a directory with train.csv (and test.csv), or an image folder (train/ and val/ of class folders, or class folders alone: a fifth held out). Without --dataset the format is detected.")
    var dataDir: String?
    @Option(parsing: .unconditional, help: "Epochs to train in all. [default: 8]") var epochs: Int?
    @Option(parsing: .unconditional, help: "Examples per batch. [default: 64]") var batchSize: Int?
    @Option(help: "Optimizer: \(TrainConfig.optimizers.joined(separator: ", ")). [default: adamw]") var optimizer: String?
    @Option(parsing: .unconditional, help: "Learning rate (the peak for onecycle). [default: 0.003 for adam(w), 0.05 for sgd, 0.001 for rmsprop]") var lr: Double?
    @Option(help: "Schedule: \(TrainConfig.schedules.joined(separator: ", ")). [default: onecycle]") var schedule: String?
    @Option(parsing: .unconditional, help: "Weight decay. [default: 0.01 for adamw, 0.0005 otherwise]") var weightDecay: Double?
    @Option(help: "Precision: fp32; bf16 (autocast: products in bfloat16, float32 weights); fp16 (autocast to float16 with loss scaling; computed in float32 on CPUs). [default: fp32]")
    var precision: String?
    @Option(parsing: .unconditional, help: "Threads preparing batches ahead of the training step.") var workers = 2
    @Option(parsing: .unconditional, help: "Also save checkpoints/last.ckpt every N optimizer steps, so a kill mid-epoch loses at most N steps (0: only at epoch ends).")
    var checkpointEvery = 100
    @Option(parsing: .unconditional, help: "Random seed (weights, data order, augmentation, the built-in dataset). [default: 0]", transform: parseSeed) var seed: UInt64?
    @Option(parsing: .unconditional, help: "Training examples: the built-in dataset's size, else a prefix of the files' (windows of --max-length tokens for gpt). [default: 10000 for shapes and reviews, all otherwise]")
    var trainSize: Int?
    @Option(parsing: .unconditional, help: "Validation examples, counted as --train-size. [default: 2000 for shapes and reviews, all otherwise]") var valSize: Int?
    @Option(help: "Text: a Hugging Face tokenizer folder (tokenizer.json or vocab.txt). [default: UTF-8 bytes]") var tokenizer: String?
    @Option(parsing: .unconditional, help: "Text: the most tokens per example (the window of a language model). [default: 128, 64 for gpt]") var maxLength: Int?
    @Option(parsing: .unconditional, help: "Image folders: images are resized to this many pixels square. [default: the model's usual size, 32 for resnet8]") var imageSize: Int?
    @Option(help: "Output directory. [default: the next free runs/train-N; with --resume, the latest]") var out: String?
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Option(parsing: .unconditional, help: "Train data-parallel in N processes that ember starts through Open MPI's mpirun, each on --batch-size examples per step (the global batch is N times that). `mpirun -n N ember train ...` works too.")
    var nproc: Int?
    @Option(parsing: .unconditional, help: "ZeRO stage with --nproc: 1 shards the optimizer state across the ranks, 2 the gradients too (reduce-scattered); the training equals plain data parallelism.")
    var zero: Int?
    @Flag(help: "Fully sharded data parallel with --nproc: the model's parameters, gradients and optimizer state sharded across the ranks, each unit's gathered only for its forward and backward passes (see --fsdp-wrap). Validation shares are padded to equal size (some examples counted twice).")
    var fsdp = false
    @Option(help: "With --fsdp, the units: block (each transformer block one, the rest in the root unit), size:N (each layer of at least N parameters) or model (the whole model one). [default: block for gpt, model otherwise]")
    var fsdpWrap: String?
    @Option(help: "With --nproc: the machines for the ranks, comma-separated (name or name:slots), reachable by ssh with ember at the same path.")
    var hosts: String?
    @Option(help: "Profile optimizer steps A to B (numbered from 1 across epochs; or one step N): writes trace.json (Perfetto, chrome://tracing) and profile.txt (time and FLOP/s per op and module) into the run directory.")
    var profileSteps: String?

    func run() throws {
        guard workers >= 0 else { throw CommandError("--workers must not be negative, got \(workers)") }
        guard checkpointEvery >= 0 else { throw CommandError("--checkpoint-every must not be negative, got \(checkpointEvery)") }
        try validateSharding(precision: precision, model: resume ? nil : model ?? TrainConfig().model)
        if try launchRanks() { return }
        let group = try defaultProcessGroup()
        do {
            let directory = URL(fileURLWithPath: try agreedOutput(group))
            let config = try resolveConfig(directory: directory)
            try config.validate()
            try validateSharding(precision: config.precision, model: config.model)
            // Everything the checkpoint holds is checked before any data is read.
            let checkpoint = try resume ? TrainingRun.lastCheckpoint(of: directory, epochs: config.epochs) : nil
            let run = try TrainingRun(config: config, directory: directory, workers: workers,
                                      checkpointEvery: checkpointEvery > 0 ? checkpointEvery : nil, processGroup: group,
                                      sharding: try sharding(for: config.model))
            if let profileSteps {
                try run.profile(steps: Self.parseSteps(profileSteps), after: checkpoint?.progress.globalStep ?? 0)
            }
            try run.start(resuming: checkpoint)
        } catch where group.worldSize > 1 && !(error is ExitCode) {
            // The other ranks may be waiting for this one in a collective: stop them all.
            FileHandle.standardError.write(Data("Error: rank \(group.rank) of \(group.worldSize): \(error)\n".utf8))
            MPIProcessGroup.abortJob(exitCode: 1)
        }
    }

    /// `--profile-steps`: "A-B" or "N", steps numbered from 1.
    static func parseSteps(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), let first = parts[0], let last = parts.last!, first >= 1, last >= first else {
            throw CommandError("--profile-steps must be A-B with 1 <= A <= B, or one step N >= 1; got '\(text)'")
        }
        return first...last
    }

    /// runs/train-N: the first N not yet used, or when resuming the highest one that holds a
    /// checkpoint. A directory becomes a run with its first checkpoint: one whose training
    /// stopped before saving any is skipped, with a note.
    static func defaultOutput(resuming: Bool) throws -> String {
        let used = ((try? FileManager.default.contentsOfDirectory(atPath: "runs")) ?? [])
            .compactMap { $0.hasPrefix("train-") ? Int($0.dropFirst(6)) : nil }.sorted()
        guard resuming else { return "runs/train-\((used.last ?? 0) + 1)" }
        let runs = used.filter { FileManager.default.fileExists(atPath: "runs/train-\($0)/\(TrainingRun.lastCheckpointPath)") }
        guard let latest = runs.last else {
            throw CommandError(used.isEmpty ? "no run to resume: runs/ holds no train-N directory (give --out DIR)"
                                            : "no run to resume: no runs/train-N directory holds a checkpoint yet (give --out DIR)")
        }
        for skipped in used where skipped > latest {
            FileHandle.standardError.write(Data("note: skipping runs/train-\(skipped): it holds no checkpoint (its training never saved one)\n".utf8))
        }
        return "runs/train-\(latest)"
    }

    /// The options given on the command line over the defaults, or, with `--resume`, the
    /// saved configuration (which the options must not contradict).
    private func resolveConfig(directory: URL) throws -> TrainConfig {
        guard resume else {
            var config = TrainConfig()
            if let model { config.model = model }
            if let dataset {
                config.dataset = dataset
            } else if let dataDir {
                config.dataset = try TrainingData.detectFormat(at: dataDir)
            } else {
                config.dataset = TrainConfig.defaultDataset(for: config.model)
            }
            config.tokenizer = tokenizer.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            config.maxLength = maxLength
            config.imageSize = imageSize
            config.dataDir = dataDir
            if let epochs { config.epochs = epochs }
            if let batchSize { config.batchSize = batchSize }
            if let optimizer { config.optimizer = optimizer }
            config.lr = lr
            if let schedule { config.schedule = schedule }
            if let weightDecay { config.weightDecay = weightDecay }
            config.precision = precision
            if let seed { config.seed = seed }
            config.trainSize = trainSize
            config.valSize = valSize
            return config
        }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(TrainingRun.lastCheckpointPath).path) else {
            throw CommandError("cannot resume: \(directory.path) holds no checkpoint (\(TrainingRun.lastCheckpointPath)); "
                               + "its training never saved one: start it again without --resume")
        }
        var config = try TrainConfig.read(from: directory.appendingPathComponent("config.json"))
        func check<T: Equatable>(_ option: String, _ given: T?, _ saved: T?) throws {
            if let given, given != saved {
                throw CommandError("cannot resume with \(option) \(given): the run in \(directory.path) used \(saved.map { "\($0)" } ?? "the default")")
            }
        }
        try check("--model", model, config.model)
        try check("--dataset", dataset, config.dataset)
        try check("--data-dir", dataDir, config.dataDir)
        try check("--batch-size", batchSize, config.batchSize)
        try check("--optimizer", optimizer, config.optimizer)
        try check("--lr", lr, config.lr)
        try check("--schedule", schedule, config.schedule)
        try check("--weight-decay", weightDecay, config.weightDecay)
        try check("--precision", precision, config.precision)
        try check("--seed", seed, config.seed)
        try check("--train-size", trainSize, config.trainSize)
        try check("--val-size", valSize, config.valSize)
        try check("--tokenizer", tokenizer.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, config.tokenizer)
        try check("--max-length", maxLength, config.maxLength)
        try check("--image-size", imageSize, config.imageSize)
        if let epochs { config.epochs = epochs }
        return config
    }
}
