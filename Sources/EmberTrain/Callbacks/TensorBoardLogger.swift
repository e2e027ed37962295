import Ember
import EmberNN
import Foundation

/// Writes TensorBoard event files during `fit`: the running loss and metrics every
/// `batchInterval` steps (tags `batch/<name>`, by optimizer step), every epoch value
/// (`epoch/<name>`, by epoch number from 1), and histograms of the weights each epoch
/// when `histograms` is on (cheap for small models; off by default for large ones).
public final class TensorBoardLogger: Callback {
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
        writer = try SummaryWriter(logDirectory: logDirectory)
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let writer, trainer.globalStep % batchInterval == 0 else { return }
        for (name, value) in logs { try writer.addScalar("batch/" + name, value, step: trainer.globalStep) }
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let writer else { return }
        for (name, value) in logs.sorted(by: { $0.key < $1.key }) {
            try writer.addScalar("epoch/" + name, value, step: epoch + 1)
        }
        if histograms {
            for (name, parameter) in trainer.model.namedParameters() {
                try writer.addHistogram("weights/" + name, parameter, step: epoch + 1)
            }
        }
        try writer.flush()
    }

    public func trainEnded(_ trainer: Trainer) throws {
        try writer?.close()
        writer = nil
    }
}
