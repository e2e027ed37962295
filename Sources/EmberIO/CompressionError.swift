/// A compressed stream that cannot be decompressed, with what is wrong.
public struct CompressionError: Error, CustomStringConvertible, Equatable {
    /// The file's path, or the name the caller gave the stream.
    public let source: String
    /// What is wrong: truncated, corrupt (with zlib's reason), trailing bytes.
    public let problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}
