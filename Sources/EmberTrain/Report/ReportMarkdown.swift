import Foundation

/// The Markdown summary of a training report: configuration, headline numbers, the chart and a
/// table of the epochs (shortened to its first and last ten rows for long runs).
struct ReportMarkdown {
    static let tableHeadRows = 10
    static let tableTailRows = 10

    let title: String
    let configuration: [(key: String, value: String)]
    let rows: [TrainingReport.Row]
    let chartFileName: String

    var text: String {
        var out = "# \(title)\n\n![Loss and accuracy per epoch](\(chartFileName))\n\n"
        if !configuration.isEmpty {
            out += "## Configuration\n\n| Setting | Value |\n|---|---|\n"
            for (key, value) in configuration { out += "| \(cell(key)) | \(cell(value)) |\n" }
            out += "\n"
        }
        out += "## Summary\n\n" + summary.map { "- \($0)\n" }.joined() + "\n"
        if !rows.isEmpty { out += "## Epochs\n\n" + table }
        return out
    }

    private var summary: [String] {
        var lines = ["Epochs: \(rows.count)"]
        let validation = rows.compactMap { row in row.valAccuracy.flatMap { $0.isNaN ? nil : (row.epoch, $0) } }
        if let best = validation.max(by: { $0.1 < $1.1 }) {
            lines.append("Best validation accuracy: \(format(best.1)) at epoch \(best.0)")
        } else {
            lines.append("Best validation accuracy: not measured")
        }
        if let last = rows.last {
            let metrics = [("loss", last.trainLoss), ("accuracy", last.trainAccuracy), ("val_loss", last.valLoss),
                           ("val_accuracy", last.valAccuracy), ("lr", last.learningRate)]
                .compactMap { name, value in value.map { "\(name) \(format($0))" } }
            lines.append("Final (epoch \(last.epoch)): " + (metrics.isEmpty ? "no metrics" : metrics.joined(separator: ", ")))
        }
        let times = rows.compactMap(\.seconds).filter(\.isFinite)
        if !times.isEmpty {
            let total = times.reduce(0, +)
            lines.append("Total time: \(ProgressFormat.duration(total)) (\(String(format: "%.1f", total)) s)")
        }
        return lines
    }

    private var table: String {
        var out = "| Epoch | Loss | Accuracy | Val loss | Val accuracy | LR | Seconds |\n|---:|---:|---:|---:|---:|---:|---:|\n"
        func line(_ row: TrainingReport.Row) -> String {
            let cells = [row.trainLoss, row.trainAccuracy, row.valLoss, row.valAccuracy, row.learningRate].map { $0.map(format) ?? "—" }
                + [row.seconds.map { String(format: "%.1f", $0) } ?? "—"]
            return "| \(row.epoch) | " + cells.joined(separator: " | ") + " |\n"
        }
        if rows.count <= Self.tableHeadRows + Self.tableTailRows {
            return out + rows.map(line).joined()
        }
        out += rows.prefix(Self.tableHeadRows).map(line).joined()
        out += "| … | | | | | | |\n"
        return out + rows.suffix(Self.tableTailRows).map(line).joined()
    }

    /// Four significant decimals, scientific for tiny magnitudes (learning rates such as 1e-5).
    private func format(_ value: Double) -> String {
        value.isNaN ? "nan" : ProgressFormat.value(value)
    }

    /// A table cell: a `|` would end the cell and a newline the row.
    private func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
