/// A run that cannot be loaded or an input a model cannot take: one line for the user,
/// naming the file, field or input and what is allowed.
public struct RunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
