import Ember

/// An optimizer's state in a form a checkpoint can store: tensors by name (for a tensor
/// file such as safetensors) and a small Codable record (for JSON).
public struct OptimizerState {
    /// Per-parameter buffers keyed `state.<index>.<name>` with PyTorch's names
    /// (`state.3.exp_avg`); parameters are numbered across groups in order.
    public var tensors: [String: Tensor]
    public var info: Info

    public init(tensors: [String: Tensor], info: Info) {
        self.tensors = tensors
        self.info = info
    }

    public struct Info: Codable, Equatable, Sendable {
        /// The optimizer's type ("SGD", "Adam"...): a state loads only into the same kind.
        public var optimizer: String
        public var groups: [Group]

        public init(optimizer: String, groups: [Group]) {
            self.optimizer = optimizer
            self.groups = groups
        }
    }

    public struct Group: Codable, Equatable, Sendable {
        /// The group's options under PyTorch's param_groups names (booleans as 0 and 1).
        public var hyperparameters: [String: Double]
        /// The shape of each parameter of the group, checked when loading.
        public var shapes: [[Int]]
        /// Steps taken by each parameter of the group (0: no state yet).
        public var steps: [Int]

        public init(hyperparameters: [String: Double], shapes: [[Int]], steps: [Int]) {
            self.hyperparameters = hyperparameters
            self.shapes = shapes
            self.steps = steps
        }
    }

    static func key(parameter index: Int, buffer: String) -> String { "state.\(index).\(buffer)" }

    /// The parameter index and buffer name of a `state.<index>.<name>` key.
    static func parse(_ key: String) -> (index: Int, buffer: String)? {
        let parts = key.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "state", let index = Int(parts[1]), index >= 0, !parts[2].isEmpty else {
            return nil
        }
        return (index, String(parts[2]))
    }
}

/// Invalid optimizer or schedule settings, or a saved state that does not fit.
public struct OptimizerError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads options back from a state's hyperparameters, naming what is missing.
struct Hyperparameters {
    let values: [String: Double]

    init(_ values: [String: Double]) { self.values = values }

    func number(_ key: String) throws(OptimizerError) -> Double {
        guard let value = values[key] else { throw OptimizerError("the hyperparameter '\(key)' is missing") }
        return value
    }

    func flag(_ key: String) throws(OptimizerError) -> Bool {
        let value = try number(key)
        guard value == 0 || value == 1 else { throw OptimizerError("the flag '\(key)' is \(value), expected 0 or 1") }
        return value == 1
    }
}

/// Throws `message` unless `condition` holds: the options' validation checks.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(OptimizerError) {
    if !condition { throw OptimizerError(message()) }
}
