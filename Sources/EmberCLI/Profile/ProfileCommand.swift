import ArgumentParser
import Ember
import EmberIO
import EmberNN
import EmberRuns
import EmberTrain
import Foundation

/// `ember profile`: one training iteration of a model (forward, loss, backward, optimizer
/// step) on a random batch, profiled kernel by kernel: torch.profiler's "profile one
/// iteration" as a command.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Profile one training iteration of a model: time, FLOP/s and share of the machine's peak per op or module.",
        discussion: """
        MODEL is a model name (\(ModelRegistry.names.joined(separator: ", "))) or a run directory \
        written by ember train. The batch is random; the optimizer is the one ember train uses by \
        default (AdamW). Warm-up iterations run first, unprofiled (oneDNN builds its kernels on \
        first use). The peak is a 2048^3 fp32 matrix product measured now, on all threads.
        """)

    @Argument(help: ArgumentHelp("A model name or a run directory.", valueName: "model")) var target: String
    @OptionGroup var options: ModelOptions
    @Option(parsing: .unconditional, help: "Examples in the batch.") var batchSize = 16
    @Option(parsing: .unconditional, help: "Unprofiled iterations before the profiled one.") var warmup = 1
    @Option(help: "Group the table by op, shape (op and input shapes) or module.") var groupBy = "op"
    @Option(parsing: .unconditional, help: "Rows of the table.") var rows = 25
    @Option(help: "Also write the Chrome trace (Perfetto, chrome://tracing) to this file.") var trace: String?

    func run() throws {
        try options.validateValues()
        guard batchSize > 0 else { throw CommandError("--batch-size must be positive, got \(batchSize)") }
        guard warmup >= 0 else { throw CommandError("--warmup must not be negative, got \(warmup)") }
        guard rows > 0 else { throw CommandError("--rows must be positive, got \(rows)") }
        let groupings: [String: Profile.Grouping] = ["op": .op, "shape": .opAndShape, "module": .module]
        guard let grouping = groupings[groupBy] else { throw CommandError("--group-by must be op, shape or module, got '\(groupBy)'") }
        let traceURL = try trace.map { try Self.checkedOutput($0, flag: "--trace") }

        let chosen = try options.resolve(target, examples: batchSize)
        let model = chosen.model
        var config = TrainConfig()
        config.model = chosen.name
        let optimizer = try OptimizerFactory.optimizer(for: model, config)
        let task = TrainingRun.task(languageModel: config.isLanguageModel)
        let (inputs, targets) = Self.randomBatch(chosen, size: batchSize, languageModel: config.isLanguageModel)
        model.train()
        func iteration() {
            optimizer.zeroGrad()
            let value = record("forward") { task.loss(model(inputs), targets) }
            record("backward") { value.backward() }
            record("optimizer.step") { optimizer.step() }
            _ = value.item()
        }
        for _ in 0..<warmup { iteration() }
        let recorded = profile(model) { record("iteration") { iteration() } }.profile
        let peak = measuredPeakFLOPS()

        print("\(chosen.description): one training iteration on a batch of \(batchSize) examples of shape \(chosen.input.shape) "
              + "(\(config.optimizer), after \(warmup) warm-up)")
        print(recorded.table(groupBy: grouping, peakFLOPS: peak, limit: rows))
        let total = recorded.events.first { $0.name == "iteration" }!.duration
        let flops = recorded.kernels.reduce(0) { $0 + $1.flops }
        let rate = Double(flops) / (Double(total) / 1e9)
        print(String(format: "Iteration %.1f ms: %.2f GFLOP, %.1f GFLOP/s, %.1f%% of the measured peak (%.1f GFLOP/s, %d threads)",
                     Double(total) / 1e6, Double(flops) / 1e9, rate / 1e9, 100 * rate / peak, peak / 1e9,
                     ProcessInfo.processInfo.activeProcessorCount))
        if let traceURL {
            do {
                try recorded.writeChromeTrace(to: traceURL)
            } catch {
                throw CommandError("--trace \(traceURL.path): cannot write the trace: \(FileError.systemReason(error))")
            }
            print("Wrote \(traceURL.path) (open it in https://ui.perfetto.dev or chrome://tracing)")
        }
    }

    /// A batch of random examples of the model's input, with random labels (next tokens for a
    /// language model).
    static func randomBatch(_ chosen: ModelOptions.ChosenModel, size: Int, languageModel: Bool) -> (Tensor, Tensor) {
        let source = RandomSource.key(Key(0))
        let inputs: Tensor
        switch chosen.input {
        case .tokens(_, let vocabularySize, let maxLength, _):
            inputs = Tensor.randomIntegers([size, maxLength], high: vocabularySize, source: source)
            if languageModel {
                return (inputs, Tensor.randomIntegers([size * maxLength], high: vocabularySize, source: .key(Key(1))))
            }
        default:
            inputs = Tensor.randomNormal([size] + chosen.input.shape, source: source)
        }
        return (inputs, Tensor.randomIntegers([size], high: chosen.classes, source: .key(Key(1))))
    }

    /// A file to write: its folder must exist.
    static func checkedOutput(_ path: String, flag: String) throws -> URL {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandError("\(flag) \(path): the folder \(folder) does not exist")
        }
        return url
    }
}

/// The machine's fp32 peak as Ember reaches it now, in FLOP/s: the best of three 2048^3
/// products after one warm-up (a quarter of a second on a few cores).
func measuredPeakFLOPS() -> Double {
    let size = 2048
    let a = Tensor.randomNormal([size, size], source: .key(Key(1))), b = Tensor.randomNormal([size, size], source: .key(Key(2)))
    _ = matmul(a, b)
    var best = Double.infinity
    for _ in 0..<3 {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = matmul(a, b)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return 2 * pow(Double(size), 3) / best
}
