import Ember
import Foundation

/// A classification dataset from a CSV file: every column but the label is a numeric feature.
/// Labels that are all non-negative integers are class ids as written (class names "0", "1",
/// ... up to the largest); otherwise each distinct label is a class, numbered in sorted order.
public struct CSVClassification: Dataset, Sendable {
    public let classNames: [String]
    /// The feature columns' names, in the order of the features.
    public let featureNames: [String]
    /// The statistics applied (`.using(mean:std:)`), to standardize a test set identically.
    public let standardization: Standardization
    public var count: Int { labels.count }
    private let features: [Float]
    private let labels: [Int]

    public init(contentsOf url: URL, label: CSVColumn, options: CSVOptions = CSVOptions()) throws {
        let table = try CSVTable(contentsOf: url, options: options)
        let labelColumn = try table.index(of: label)
        let featureColumns = table.columnNames.indices.filter { $0 != labelColumn }
        var features = try table.numbers(columns: featureColumns)
        standardization = try options.standardization.apply(to: &features, width: featureColumns.count, source: url.path)

        let texts = table.rows.map { $0.fields[labelColumn].trimmingCharacters(in: .whitespaces) }
        if let row = table.rows.first(where: { $0.fields[labelColumn].trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw table.fail(row, labelColumn, "is not a label")
        }
        let integers = texts.compactMap { Int($0) }
        if integers.count == texts.count {
            if let negative = integers.firstIndex(where: { $0 < 0 }) {
                throw table.fail(table.rows[negative], labelColumn, "is a negative label: integer labels are class ids 0, 1, ...")
            }
            classNames = (0...(integers.max() ?? 0)).map(String.init)
            labels = integers
        } else {
            classNames = Set(texts).sorted()
            let ids = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
            labels = texts.map { ids[$0]! }
        }
        featureNames = featureColumns.map { table.columnNames[$0] }
        self.features = features
    }

    public subscript(index: Int) -> (features: Tensor, label: Int) {
        let width = featureNames.count
        return (Tensor(Array(features[(index * width)..<((index + 1) * width)]), shape: [width]), labels[index])
    }
}
