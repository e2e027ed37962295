import EmberIO
import Foundation

/// Writes one CSV row per epoch, numbered from 1. The file is rewritten from the trainer's
/// history each epoch (atomically), so after a resume it holds exactly the rows of the
/// epochs the checkpoint covers plus the new ones, never a duplicate or a half-written row.
public final class CSVLogger: Callback {
    /// Rank 0 alone writes, in data-parallel training.
    public var runsOnEveryRank: Bool { false }
    /// A column: its header and the log key it shows (`epoch` is the epoch number).
    public struct Column: Sendable, Equatable {
        public var header: String
        public var key: String

        public init(_ header: String, key: String? = nil) {
            self.header = header
            self.key = key ?? header
        }
    }

    public let url: URL
    /// nil: `epoch` and then every logged key, sorted.
    public let columns: [Column]?

    public init(url: URL, columns: [Column]? = nil) {
        self.url = url
        self.columns = columns
    }

    public func trainBegan(_ trainer: Trainer) throws {
        if !trainer.history.epochs.isEmpty { try write(trainer.history) }
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        try write(trainer.history)
    }

    private func write(_ history: History) throws {
        let columns = self.columns ?? [Column("epoch")] + history.values.keys.sorted().map { Column($0) }
        var text = columns.map(\.header).joined(separator: ",") + "\n"
        for (row, epoch) in history.epochs.enumerated() {
            text += columns.map { column in
                column.key == "epoch" ? String(epoch + 1) : Self.format(history[column.key]?[row])
            }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: url, format: .csv)
    }

    /// Shortest text that reads back as the same double; empty for a missing value.
    static func format(_ value: Double?) -> String {
        guard let value, !value.isNaN else { return "" }
        return "\(value)"
    }
}
