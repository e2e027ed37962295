import Ember
import EmberIO
import Foundation

/// Rows of numeric features from a CSV file, without labels: the input of a trained model.
/// `columns` picks the features by name, in the model's order (other columns, such as a
/// label, are ignored); nil takes every column.
public struct CSVFeatures: Dataset, Sendable {
    public let featureNames: [String]
    public let count: Int
    private let values: [Float]

    public init(contentsOf url: URL, columns: [String]?, options: CSVOptions = CSVOptions()) throws {
        let table = try CSVTable(contentsOf: url, options: options)
        let indices = try (columns ?? table.columnNames).map { name throws(FileError) in try table.index(of: .name(name)) }
        var values = try table.numbers(columns: indices)
        _ = try options.standardization.apply(to: &values, width: indices.count, source: url.path)
        featureNames = indices.map { table.columnNames[$0] }
        count = table.rows.count
        self.values = values
    }

    public subscript(index: Int) -> Tensor {
        let width = featureNames.count
        return Tensor(Array(values[(index * width)..<((index + 1) * width)]), shape: [width])
    }
}
