/// A safetensors file (or buffer) that cannot be read or written, with what is wrong.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file's path, or the `source` name given to `SafeTensors.decode`.
    public let source: String
    /// What is wrong, naming the tensor or header entry concerned.
    public let problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "safetensors \(source): \(problem)" }
}
