import Ember
import EmberIO
import Foundation

/// A regression dataset from a CSV file: the target columns are predicted from all the other
/// (numeric) columns. Standardization, when asked for, applies to the features only.
public struct CSVRegression: Dataset, Sendable {
    /// The feature columns' names, in the order of the features.
    public let featureNames: [String]
    public let targetNames: [String]
    /// The statistics applied (`.using(mean:std:)`), to standardize a test set identically.
    public let standardization: Standardization
    public let count: Int
    private let features: [Float]
    private let targets: [Float]

    public init(contentsOf url: URL, targets: [CSVColumn], options: CSVOptions = CSVOptions()) throws {
        precondition(!targets.isEmpty, "CSVRegression: name at least one target column")
        let table = try CSVTable(contentsOf: url, options: options)
        let targetColumns = try targets.map { column throws(FileError) in try table.index(of: column) }
        let featureColumns = table.columnNames.indices.filter { !targetColumns.contains($0) }
        var features = try table.numbers(columns: featureColumns)
        standardization = try options.standardization.apply(to: &features, width: featureColumns.count, source: url.path)
        self.targets = try table.numbers(columns: targetColumns)
        self.features = features
        featureNames = featureColumns.map { table.columnNames[$0] }
        targetNames = targetColumns.map { table.columnNames[$0] }
        count = table.rows.count
    }

    public subscript(index: Int) -> (features: Tensor, target: Tensor) {
        let (width, outputs) = (featureNames.count, targetNames.count)
        return (Tensor(Array(features[(index * width)..<((index + 1) * width)]), shape: [width]),
                Tensor(Array(targets[(index * outputs)..<((index + 1) * outputs)]), shape: [outputs]))
    }
}
