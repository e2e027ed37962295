import EmberIO
import Foundation

/// A text classification dataset from a CSV file: one column of text and one of labels
/// (read as `CSVOptions.classNames` says). The file must have a header naming its columns.
public struct CSVTextClassification: Dataset, Sendable {
    public let classNames: [String]
    public var count: Int { texts.count }
    private let texts: [String]
    private let labels: [Int]

    public init(contentsOf url: URL, text: CSVColumn = "text", label: CSVColumn = .nameOrLast("label"),
                options: CSVOptions = CSVOptions(header: .present)) throws {
        let table = try CSVTable(contentsOf: url, options: options)
        let textColumn = try table.index(of: text), labelColumn = try table.index(of: label)
        guard textColumn != labelColumn else {
            throw FileError(.csv, path: url.path, problem: "the text and the label are the same column (\"\(table.columnNames[textColumn])\")")
        }
        texts = table.rows.map { $0.fields[textColumn] }
        (classNames, labels) = try table.labels(column: labelColumn, classNames: options.classNames)
    }

    public subscript(index: Int) -> (text: String, label: Int) {
        (texts[index], labels[index])
    }
}
