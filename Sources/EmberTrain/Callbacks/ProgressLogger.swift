import Foundation

/// Prints each epoch's progress (Keras's verbose output): an `Epoch 3/10` line, then a
/// progress bar with the running loss and metrics, ending with the epoch's validation
/// values. Off a terminal (a log file, CI) the bar is plain lines: one every
/// `plainEverySeconds` within the epoch, so a long epoch shows it is alive, and one at its end.
public final class ProgressLogger: Callback {
    /// Rank 0 alone writes, in data-parallel training.
    public var runsOnEveryRank: Bool { false }
    private let output: (String) -> Void
    private let isTerminal: Bool
    private let plainEverySeconds: Double
    private var bar: ProgressBar?

    public init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0, plainEverySeconds: Double = 10,
                output: @escaping (String) -> Void = ProgressBar.writeToStandardOutput) {
        self.isTerminal = isTerminal
        self.plainEverySeconds = plainEverySeconds
        self.output = output
    }

    public func epochBegan(_ epoch: Int, trainer: Trainer) throws {
        output("Epoch \(epoch + 1)/\(trainer.targetEpochs)\n")
        bar = ProgressBar(total: trainer.batchesPerEpoch, isTerminal: isTerminal, plainEverySeconds: plainEverySeconds, output: output)
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        bar?.update(step: batch + 1, values: Self.ordered(logs), samplesPerSecond: Self.rate(trainer))
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        let shown = logs.filter { $0.key != "seconds" }
        bar?.finish(values: Self.ordered(shown), samplesPerSecond: Self.rate(trainer))
        bar = nil
    }

    /// Samples per second over the epoch so far, of all ranks together (each trains as many).
    private static func rate(_ trainer: Trainer) -> Double? {
        let elapsed = (ContinuousClock.now - trainer.epochStart).seconds
        return elapsed > 0 ? Double(trainer.epochSamples * trainer.worldSize) / elapsed : nil
    }

    /// Loss first, then the metrics, then validation values and the learning rate.
    static func ordered(_ logs: [String: Double]) -> [(String, Double)] {
        func rank(_ key: String) -> Int {
            switch key {
            case "loss": return 0
            case "val_loss": return 2
            case "lr": return 4
            default: return key.hasPrefix("val_") ? 3 : 1
            }
        }
        return logs.sorted { (rank($0.key), $0.key) < (rank($1.key), $1.key) }
    }
}
