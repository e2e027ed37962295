import Ember
import EmberIO
import Foundation

/// A classification dataset from a CSV file: every column but the label is a numeric feature.
/// Labels are read as `CSVOptions.classNames` says.
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
        guard !featureColumns.isEmpty else {
            throw FileError(.csv, path: url.path, problem: "has no feature columns: its only column, \"\(table.columnNames[labelColumn])\", is the label")
        }
        var features = try table.numbers(columns: featureColumns)
        standardization = try options.standardization.apply(to: &features, width: featureColumns.count, source: url.path)

        (classNames, labels) = try table.labels(column: labelColumn, classNames: options.classNames)
        featureNames = featureColumns.map { table.columnNames[$0] }
        self.features = features
    }

    public subscript(index: Int) -> (features: Tensor, label: Int) {
        let width = featureNames.count
        return (Tensor(Array(features[(index * width)..<((index + 1) * width)]), shape: [width]), labels[index])
    }
}
