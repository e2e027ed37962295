import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import EmberTrain

final class ReportTests: XCTestCase {
    /// An SVG element with the `data-metric` of the panel that holds it.
    private struct Element {
        var name: String
        var attributes: [String: String]
        var panel: String?
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements = [Element]()
        var texts = [String]()
        private var panels = [String?]()

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == "g" { panels.append(attributes["data-metric"]) }
            elements.append(Element(name: name, attributes: attributes, panel: panels.last ?? nil))
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "g" { panels.removeLast() }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            texts.append(string)
        }
    }

    /// Parses the SVG, failing the test when it is not well-formed XML.
    private func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> Collector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Collector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "")", file: file, line: line)
        return collector
    }

    private let rows = [
        TrainingReport.Row(epoch: 1, trainLoss: 1.0, trainAccuracy: 0.5, valLoss: 0.9, valAccuracy: 0.4, learningRate: 0.01, seconds: 30),
        TrainingReport.Row(epoch: 2, trainLoss: 0.5, trainAccuracy: 0.7, valLoss: nil, valAccuracy: .nan, learningRate: 0.01, seconds: 31.5),
        TrainingReport.Row(epoch: 3, trainLoss: 0.0, trainAccuracy: 0.9, valLoss: 0.7, valAccuracy: 0.6, learningRate: 1e-5, seconds: 29),
    ]

    func testTicks() {
        let unit = AxisTicks(minimum: 0, maximum: 1)
        XCTAssertEqual(unit.step, 0.2)
        XCTAssertEqual(unit.values.count, 6)
        for (tick, expected) in zip(unit.values, [0, 0.2, 0.4, 0.6, 0.8, 1.0]) { XCTAssertEqual(tick, expected, accuracy: 1e-12) }
        XCTAssertEqual(unit.values.map(unit.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])

        // 0.9 / 0.1 is 9.000000000000002 in floating point: no extra tick at 1.0.
        let accuracy = AxisTicks(minimum: 0.4, maximum: 0.9)
        XCTAssertEqual(accuracy.values.map(accuracy.label), ["0.4", "0.5", "0.6", "0.7", "0.8", "0.9"])

        let wide = AxisTicks(minimum: 0.13, maximum: 87)
        XCTAssertEqual(wide.values, [0, 20, 40, 60, 80, 100])
        XCTAssertEqual(wide.values.map(wide.label), ["0", "20", "40", "60", "80", "100"])

        let tiny = AxisTicks(minimum: 0.0012, maximum: 0.0047)
        XCTAssertEqual(tiny.step, 0.001, accuracy: 1e-15)
        XCTAssertEqual(tiny.values.map(tiny.label), ["0.001", "0.002", "0.003", "0.004", "0.005"])

        // A single value gets a range around it.
        let single = AxisTicks(minimum: 2.3, maximum: 2.3)
        XCTAssertEqual(single.values.map(single.label), ["2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"])
        XCTAssertEqual(AxisTicks(minimum: 0, maximum: 0).values, [-1, -0.5, 0, 0.5, 1])

        XCTAssertEqual(AxisTicks(minimum: 1, maximum: 3, integers: true).values, [1, 2, 3])
        XCTAssertEqual(AxisTicks(minimum: 5, maximum: 5, integers: true).values, [4, 5, 6])
        XCTAssertEqual(AxisTicks(minimum: 1, maximum: 100, integers: true).values, [0, 20, 40, 60, 80, 100])
    }

    func testChartPolylinesAndPointsForKnownRows() {
        let svg = parse(TrainingReport(rows: rows).svg)
        XCTAssertEqual(svg.elements.first?.name, "svg")
        XCTAssertEqual(svg.elements.first?.attributes["xmlns"], "http://www.w3.org/2000/svg")

        // Loss axis 0...1 over y 330...50; epochs 1...3 over x 70...460 (the accuracy panel's
        // over 550...940); accuracy axis 0.4...0.9.
        let lines = svg.elements.filter { $0.name == "polyline" && $0.attributes["class"] == "series" }
        XCTAssertEqual(lines.map { "\($0.panel!) \($0.attributes["data-series"]!): \($0.attributes["points"]!)" }, [
            "loss train: 70,50 265,190 460,330",
            "accuracy train: 550,274 745,162 940,50",
        ], "validation has gaps at epoch 2, so it is dots only")

        let points = svg.elements.filter { $0.name == "circle" }
            .map { "\($0.panel!) \($0.attributes["data-series"]!) \($0.attributes["data-epoch"]!): \($0.attributes["cx"]!),\($0.attributes["cy"]!)" }
        XCTAssertEqual(points, [
            "loss train 1: 70,50", "loss train 2: 265,190", "loss train 3: 460,330",
            "loss validation 1: 70,78", "loss validation 3: 460,134",
            "accuracy train 1: 550,274", "accuracy train 2: 745,162", "accuracy train 3: 940,50",
            "accuracy validation 1: 550,330", "accuracy validation 3: 940,218",
        ])

        for label in ["Loss", "Accuracy", "Epoch", "train", "validation", "0.4", "1.0", "3"] {
            XCTAssertTrue(svg.texts.contains(label), "missing text \(label)")
        }
    }

    func testGapsSplitPolylines() {
        let values: [Double?] = [1, 2, nil, 3, .nan, 4, 5, 6, .infinity]
        XCTAssertEqual(ReportChart.finiteRuns(values), [[0, 1], [3], [5, 6, 7]])
        let rows = values.enumerated().map { TrainingReport.Row(epoch: $0.offset, trainLoss: $0.element) }
        let svg = parse(TrainingReport(rows: rows).svg)
        let lines = svg.elements.filter { $0.name == "polyline" && $0.attributes["class"] == "series" }
        XCTAssertEqual(lines.map { $0.attributes["points"]!.split(separator: " ").count }, [2, 3])
        XCTAssertEqual(svg.elements.filter { $0.name == "circle" }.count, 6)
    }

    func testSingleEpochAndMissingData() {
        let single = parse(TrainingReport(rows: [.init(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.8)]).svg)
        XCTAssertTrue(single.elements.filter { $0.name == "polyline" && $0.attributes["class"] == "series" }.isEmpty)
        XCTAssertEqual(single.elements.filter { $0.name == "circle" }.map { $0.attributes["cx"]! }, ["265", "745"])

        let empty = parse(TrainingReport(rows: [.init(epoch: 0, trainLoss: .nan)], title: "a < b & \"c\"").svg)
        XCTAssertEqual(empty.texts.filter { $0 == "no data" }.count, 2)
        XCTAssertTrue(empty.texts.joined().contains("a < b & \"c\""), "the title, escaped in the XML")
        XCTAssertEqual(parse(TrainingReport(rows: []).svg).texts.filter { $0 == "no data" }.count, 2)
        XCTAssertTrue(TrainingReport(rows: []).markdown.contains("- Epochs: 0\n"))
    }

    func testMarkdownSummary() {
        let report = TrainingReport(rows: rows, configuration: ["model": "MLP | 2 layers", "optimizer": "Adam", "batch size": "64"], title: "MNIST run")
        XCTAssertEqual(report.markdown, """
            # MNIST run

            ![Loss and accuracy per epoch](report.svg)

            ## Configuration

            | Setting | Value |
            |---|---|
            | model | MLP \\| 2 layers |
            | optimizer | Adam |
            | batch size | 64 |

            ## Summary

            - Epochs: 3
            - Best validation accuracy: 0.6000 at epoch 3
            - Final (epoch 3): loss 0.0000, accuracy 0.9000, val_loss 0.7000, val_accuracy 0.6000, lr 1.0000e-05
            - Total time: 1:31 (90.5 s)

            ## Epochs

            | Epoch | Loss | Accuracy | Val loss | Val accuracy | LR | Seconds |
            |---:|---:|---:|---:|---:|---:|---:|
            | 1 | 1.0000 | 0.5000 | 0.9000 | 0.4000 | 0.0100 | 30.0 |
            | 2 | 0.5000 | 0.7000 | — | nan | 0.0100 | 31.5 |
            | 3 | 0.0000 | 0.9000 | 0.7000 | 0.6000 | 1.0000e-05 | 29.0 |

            """)
    }

    func testLongRunsShortenTheTable() {
        let rows = (1...50).map { TrainingReport.Row(epoch: $0, trainLoss: 1 / Double($0)) }
        let markdown = TrainingReport(rows: rows).markdown
        let tableRows = markdown.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| Epoch") }
        XCTAssertEqual(tableRows.count, 21)
        XCTAssertTrue(tableRows[9].hasPrefix("| 10 |"))
        XCTAssertEqual(tableRows[10], "| … | | | | | | |")
        XCTAssertTrue(tableRows[11].hasPrefix("| 41 |"))
        XCTAssertTrue(markdown.contains("- Best validation accuracy: not measured\n"))
    }

    func testRowsFromHistory() {
        var history = History()
        history.record(epoch: 0, logs: ["loss": 2, "accuracy": 0.3, "lr": 0.1])
        history.record(epoch: 1, logs: ["loss": 1, "accuracy": 0.6, "val_loss": 1.5, "val_accuracy": 0.55, "lr": 0.05, "seconds": 12])
        XCTAssertEqual(TrainingReport.rows(from: history), [
            .init(epoch: 1, trainLoss: 2, trainAccuracy: 0.3, learningRate: 0.1),
            .init(epoch: 2, trainLoss: 1, trainAccuracy: 0.6, valLoss: 1.5, valAccuracy: 0.55, learningRate: 0.05, seconds: 12),
        ])
    }

    func testWritesBothFilesAndNamesAnUnwritablePath() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = TrainingReport(rows: rows, configuration: ["optimizer": "SGD"])
        let urls = try report.write(to: directory.appendingPathComponent("run"))
        XCTAssertEqual(urls.svg.lastPathComponent, "report.svg")
        XCTAssertEqual(try String(contentsOf: urls.svg, encoding: .utf8), report.svg)
        XCTAssertEqual(try String(contentsOf: urls.markdown, encoding: .utf8), report.markdown)
        // Rewriting replaces the files and leaves no temporary file behind.
        try report.write(to: directory.appendingPathComponent("run"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("run").path).sorted(), ["report.md", "report.svg"])

        let file = directory.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try report.write(to: file.appendingPathComponent("run"))) { error in
            XCTAssertTrue("\(error)".contains(file.appendingPathComponent("run").path), "\(error)")
        }
    }
}
