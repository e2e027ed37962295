import EmberIO
import Foundation

/// A training run's report from its per-epoch numbers: `report.svg`, loss and accuracy curves
/// for training and validation, and `report.md`, the configuration, headline numbers, the
/// chart and a table of the epochs.
public struct TrainingReport {
    public var rows: [Row]
    public var configuration: [(key: String, value: String)]
    public var title: String

    public static let chartFileName = "report.svg"
    public static let summaryFileName = "report.md"

    public init(rows: [Row], configuration: KeyValuePairs<String, String> = [:], title: String = "Training report") {
        self.rows = rows
        self.configuration = configuration.map { ($0.key, $0.value) }
        self.title = title
    }

    public init(history: History, configuration: KeyValuePairs<String, String> = [:], title: String = "Training report") {
        self.init(rows: TrainingReport.rows(from: history), configuration: configuration, title: title)
    }

    /// The chart as a self-contained SVG document.
    public var svg: String {
        ReportChart(title: title, rows: rows).svg
    }

    /// The Markdown summary, linking the chart as `report.svg` beside it.
    public var markdown: String {
        ReportMarkdown(title: title, configuration: configuration, rows: rows, chartFileName: TrainingReport.chartFileName).text
    }

    /// Writes `report.svg` and `report.md` into `directory` (created if needed). Each file is
    /// replaced atomically, so a reader never sees half a report.
    @discardableResult
    public func write(to directory: URL) throws -> (svg: URL, markdown: URL) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw FileError(.report, path: directory.path, problem: "cannot create the directory: \(FileError.systemReason(error))")
        }
        let svgURL = directory.appendingPathComponent(TrainingReport.chartFileName)
        let markdownURL = directory.appendingPathComponent(TrainingReport.summaryFileName)
        for (url, text) in [(svgURL, svg), (markdownURL, markdown)] {
            try AtomicFile.write(Data(text.utf8), to: url, format: .report)
        }
        return (svgURL, markdownURL)
    }
}
