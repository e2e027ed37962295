/// Why an event file could not be created or written, naming the path.
public struct SummaryWriterError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public var description: String { "TensorBoard event file \(path): \(problem)" }
}
