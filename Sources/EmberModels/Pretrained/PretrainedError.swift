/// A model folder, file or checkpoint that cannot be used: which one, and what is wrong
/// (naming the file, key or tensor and what was expected).
public struct PretrainedError: Error, CustomStringConvertible, Equatable {
    /// The folder or file concerned.
    public let source: String
    public let problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}

/// Names in an error message: all of them when few, else the first ones and how many more.
func listed(_ names: [String], limit: Int = 20) -> String {
    guard names.count > limit else { return names.joined(separator: ", ") }
    return names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
}
