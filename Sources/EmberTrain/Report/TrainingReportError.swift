/// Why a report file could not be written, naming the path.
public struct TrainingReportError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public var description: String { "training report \(path): \(problem)" }
}
