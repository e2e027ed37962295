/// A failure while an imported graph runs: an operator given inputs it cannot handle
/// (shapes, dtypes, values known only at run time). Loading errors are `FileError`s.
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    public var node: String
    public var op: String
    public var problem: String

    public init(node: String, op: String, problem: String) {
        self.node = node
        self.op = op
        self.problem = problem
    }

    public var description: String { "ONNX node '\(node)' (\(op)): \(problem)" }
}
