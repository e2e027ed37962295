/// A dataset file that is missing or cannot be read, with what is wrong (and where: line and
/// column for text formats, record or example for binary ones).
public struct DataFileError: Error, CustomStringConvertible, Equatable {
    /// The file's path (or the directory's, when files are missing).
    public let source: String
    /// What is wrong.
    public let problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}
