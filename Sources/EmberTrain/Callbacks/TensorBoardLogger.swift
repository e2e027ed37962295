import Ember
import EmberNN
import Foundation

/// Writes TensorBoard event files during `fit`: the running loss and metrics every
/// `batchInterval` steps (tags `batch/<name>`), every epoch value (`epoch/<name>`) and
/// histograms of the weights each epoch when `histograms` is on (cheap for small models).
/// Every event is at the optimizer step it was logged after, so that a run resumed from a
/// checkpoint can mark everything logged after the checkpoint as superseded (TensorBoard's
/// purge by step) and TensorBoard shows each step once.
public final class TensorBoardLogger: Callback {
    /// Rank 0 alone writes, in data-parallel training.
    public var runsOnEveryRank: Bool { false }
    public let logDirectory: URL
    public let batchInterval: Int
    public let histograms: Bool
    private var writer: SummaryWriter?

    public init(logDirectory: URL, batchInterval: Int = 10, histograms: Bool = true) {
        precondition(batchInterval > 0, "TensorBoardLogger: batchInterval must be positive, got \(batchInterval)")
        self.logDirectory = logDirectory
        self.batchInterval = batchInterval
        self.histograms = histograms
    }

    public func trainBegan(_ trainer: Trainer) throws {
        writer = try SummaryWriter(logDirectory: logDirectory, purgeStep: trainer.globalStep > 0 ? trainer.globalStep + 1 : nil)
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let writer, trainer.globalStep % batchInterval == 0 else { return }
        for (name, value) in logs { try writer.addScalar("batch/" + name, value, step: trainer.globalStep) }
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let writer else { return }
        for (name, value) in logs.sorted(by: { $0.key < $1.key }) {
            try writer.addScalar("epoch/" + name, value, step: trainer.globalStep)
        }
        if histograms {
            for (name, parameter) in trainer.model.namedParameters() {
                try writer.addHistogram("weights/" + name, parameter, step: trainer.globalStep)
            }
        }
        try writer.flush()
    }

    public func trainEnded(_ trainer: Trainer) throws {
        try writer?.close()
        writer = nil
    }
}
