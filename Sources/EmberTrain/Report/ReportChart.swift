import Foundation

/// The SVG of a training report: a loss panel and an accuracy panel side by side, epochs on
/// the x axis, training and validation series as polylines with a dot at each epoch. Missing
/// or non-finite values leave a gap: the polyline is split there.
struct ReportChart {
    static let width = 960.0
    static let height = 400.0
    static let panelWidth = 480.0
    /// Plot area inside each panel, in panel coordinates.
    static let plotLeft = 70.0
    static let plotRight = 460.0
    static let plotTop = 50.0
    static let plotBottom = 330.0

    static let trainColor = "#1f77b4"
    static let validationColor = "#ff7f0e"

    struct Series {
        var name: String
        var color: String
        var dashed: Bool
        var values: [Double?]
    }

    struct Panel {
        var title: String
        var metric: String
        var series: [Series]
    }

    let title: String
    let epochs: [Int]
    let panels: [Panel]

    init(title: String, rows: [TrainingReport.Row]) {
        self.title = title
        epochs = rows.map(\.epoch)
        func series(_ name: String, _ color: String, _ dashed: Bool, _ value: (TrainingReport.Row) -> Double?) -> Series {
            Series(name: name, color: color, dashed: dashed, values: rows.map(value))
        }
        panels = [
            Panel(title: "Loss", metric: "loss", series: [
                series("train", ReportChart.trainColor, false, \.trainLoss),
                series("validation", ReportChart.validationColor, true, \.valLoss),
            ]),
            Panel(title: "Accuracy", metric: "accuracy", series: [
                series("train", ReportChart.trainColor, false, \.trainAccuracy),
                series("validation", ReportChart.validationColor, true, \.valAccuracy),
            ]),
        ]
    }

    /// The epoch axis, shared by both panels.
    var epochTicks: AxisTicks {
        AxisTicks(minimum: Double(epochs.min() ?? 0), maximum: Double(epochs.max() ?? 1), integers: true)
    }

    /// The value axis of a panel, over its finite values (0...1 when it has none).
    static func valueTicks(_ panel: Panel) -> AxisTicks {
        let values = panel.series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
        return AxisTicks(minimum: values.min() ?? 0, maximum: values.max() ?? 1)
    }

    var svg: String {
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(Self.width))" height="\(n(Self.height))" \
            viewBox="0 0 \(n(Self.width)) \(n(Self.height))" font-family="sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <rect width="100%" height="100%" fill="white"/>

            """
        for (index, panel) in panels.enumerated() {
            out += draw(panel, offset: Double(index) * Self.panelWidth)
        }
        return out + "</svg>\n"
    }

    private func draw(_ panel: Panel, offset: Double) -> String {
        let xTicks = epochTicks, yTicks = Self.valueTicks(panel)
        let left = offset + Self.plotLeft, right = offset + Self.plotRight
        func x(_ epoch: Int) -> Double {
            left + (Double(epoch) - xTicks.lower) / (xTicks.upper - xTicks.lower) * (right - left)
        }
        func y(_ value: Double) -> Double {
            Self.plotBottom - (value - yTicks.lower) / (yTicks.upper - yTicks.lower) * (Self.plotBottom - Self.plotTop)
        }

        var out = "<g class=\"panel\" data-metric=\"\(panel.metric)\">\n"
        out += "<text x=\"\(n((left + right) / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(panel.title)</text>\n"
        for tick in yTicks.values {
            out += "<line x1=\"\(n(left))\" y1=\"\(n(y(tick)))\" x2=\"\(n(right))\" y2=\"\(n(y(tick)))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(n(left - 6))\" y=\"\(n(y(tick) + 4))\" text-anchor=\"end\">\(yTicks.label(tick))</text>\n"
        }
        for tick in xTicks.values {
            let position = x(Int(tick))
            out += "<line x1=\"\(n(position))\" y1=\"\(n(Self.plotBottom))\" x2=\"\(n(position))\" y2=\"\(n(Self.plotBottom + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(n(position))\" y=\"\(n(Self.plotBottom + 19))\" text-anchor=\"middle\">\(xTicks.label(tick))</text>\n"
        }
        out += "<polyline points=\"\(n(left)),\(n(Self.plotTop)) \(n(left)),\(n(Self.plotBottom)) \(n(right)),\(n(Self.plotBottom))\" fill=\"none\" stroke=\"black\"/>\n"
        out += "<text x=\"\(n((left + right) / 2))\" y=\"\(n(Self.plotBottom + 40))\" text-anchor=\"middle\">Epoch</text>\n"
        let middle = (Self.plotTop + Self.plotBottom) / 2
        out += "<text x=\"\(n(offset + 18))\" y=\"\(n(middle))\" text-anchor=\"middle\" transform=\"rotate(-90 \(n(offset + 18)) \(n(middle)))\">\(panel.title)</text>\n"

        var hasData = false
        for series in panel.series {
            let points = zip(epochs, series.values).compactMap { epoch, value in
                value.flatMap { $0.isFinite ? (epoch, $0) : nil }
            }
            hasData = hasData || !points.isEmpty
            let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
            for run in Self.finiteRuns(series.values) where run.count > 1 {
                let coordinates = run.map { "\(n(x(epochs[$0]))),\(n(y(series.values[$0]!)))" }.joined(separator: " ")
                out += "<polyline class=\"series\" data-series=\"\(series.name)\" points=\"\(coordinates)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(dash)/>\n"
            }
            for (epoch, value) in points {
                out += "<circle class=\"point\" data-series=\"\(series.name)\" data-epoch=\"\(epoch)\" cx=\"\(n(x(epoch)))\" cy=\"\(n(y(value)))\" r=\"3\" fill=\"\(series.color)\"/>\n"
            }
        }
        if !hasData {
            out += "<text x=\"\(n((left + right) / 2))\" y=\"\(n(middle))\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n"
        }

        // Legend, top right above the plot so it never covers a line.
        for (index, series) in panel.series.enumerated() {
            let legendX = right - 170 + Double(index) * 85
            let dash = series.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<line x1=\"\(n(legendX))\" y1=\"40\" x2=\"\(n(legendX + 20))\" y2=\"40\" stroke=\"\(series.color)\" stroke-width=\"2\"\(dash)/>\n"
            out += "<text x=\"\(n(legendX + 25))\" y=\"44\">\(series.name)</text>\n"
        }
        return out + "</g>\n"
    }

    /// Index ranges of consecutive present, finite values.
    static func finiteRuns(_ values: [Double?]) -> [[Int]] {
        var runs = [[Int]](), current = [Int]()
        for (index, value) in values.enumerated() {
            if let value, value.isFinite {
                current.append(index)
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }

    /// A coordinate with at most two decimals and no trailing zeros.
    private func n(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text == "-0" ? "0" : text
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
