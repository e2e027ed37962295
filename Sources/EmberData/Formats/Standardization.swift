import EmberIO
/// Rescaling of feature columns to zero mean and unit variance.
public enum Standardization: Sendable, Equatable {
    case none
    /// With the file's own column means and (population) standard deviations.
    case fitted
    /// With given statistics, such as a training set's `standardization`, for a test set.
    case using(mean: [Float], std: [Float])
}

extension Standardization {
    /// The means and standard deviations of `.using`; nil for `.none` and `.fitted` (whose
    /// statistics a dataset reports as `.using` after fitting them).
    public var statistics: (mean: [Float], std: [Float])? {
        if case .using(let mean, let std) = self { return (mean, std) }
        return nil
    }

    /// Standardizes `values` (rows of `width` features) in place, returning the statistics
    /// used (`.none` when none were applied).
    func apply(to values: inout [Float], width: Int, source: String) throws(FileError) -> Standardization {
        let rows = width == 0 ? 0 : values.count / width
        let mean: [Float], std: [Float]
        switch self {
        case .none:
            return .none
        case .using(let given, let givenStd):
            guard given.count == width && givenStd.count == width else {
                throw FileError(.csv, path: source, problem: "the standardization has \(given.count) means and \(givenStd.count) standard deviations for \(width) feature columns")
            }
            (mean, std) = (given, givenStd)
        case .fitted:
            // Accumulated in Double: a float32 running sum loses digits over many rows.
            var sums = [Double](repeating: 0, count: width), squares = [Double](repeating: 0, count: width)
            for row in 0..<rows {
                for column in 0..<width { sums[column] += Double(values[row * width + column]) }
            }
            let means = sums.map { $0 / Double(rows) }
            for row in 0..<rows {
                for column in 0..<width {
                    let d = Double(values[row * width + column]) - means[column]
                    squares[column] += d * d
                }
            }
            mean = means.map { Float($0) }
            // A constant column keeps its (zero) deviations instead of dividing by zero.
            std = squares.map { let s = Float(($0 / Double(rows)).squareRoot()); return s > 0 ? s : 1 }
        }
        for row in 0..<rows {
            for column in 0..<width { values[row * width + column] = (values[row * width + column] - mean[column]) / std[column] }
        }
        return .using(mean: mean, std: std)
    }
}
