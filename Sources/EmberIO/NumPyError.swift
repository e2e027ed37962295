/// A `.npy` or `.npz` file that cannot be read or written, with what is wrong.
public struct NumPyError: Error, CustomStringConvertible, Equatable {
    /// The file's path, or the `source` name given to `NumPy.decode`.
    public let source: String
    /// The archive member concerned (`"weights.npy"`), for `.npz` files.
    public let member: String?
    /// What is wrong.
    public let problem: String

    public init(source: String, member: String? = nil, problem: String) {
        self.source = source
        self.member = member
        self.problem = problem
    }

    public var description: String {
        if let member { return "npz \(source), member \(member): \(problem)" }
        return "npy \(source): \(problem)"
    }
}
