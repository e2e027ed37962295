import Ember

/// A finite collection of examples read by index (PyTorch's map-style dataset).
/// Loaders read from several worker threads at once, so `subscript` must be safe to call
/// concurrently and must not draw from the global random generator.
public protocol Dataset {
    associatedtype Element
    var count: Int { get }
    subscript(index: Int) -> Element { get }
}

/// A batch as training consumes it: inputs and targets stacked along a leading batch axis.
/// A model with several inputs or outputs (a functional model) takes them by name
/// (`Batch(inputs: ["title": t, "body": b], targets: ["priority": p])`); a batch of one input
/// tensor and one target tensor holds each under the name `Batch.unnamed`.
public struct Batch {
    /// The name under which a batch made from single tensors holds them.
    public static let unnamed = ""

    public var namedInputs: [String: Tensor]
    /// Empty for data with no targets (to predict on).
    public var namedTargets: [String: Tensor]

    public init(inputs: Tensor, targets: Tensor) {
        namedInputs = [Self.unnamed: inputs]
        namedTargets = [Self.unnamed: targets]
    }

    public init(inputs: [String: Tensor], targets: [String: Tensor] = [:]) {
        precondition(!inputs.isEmpty, "Batch: needs at least one input")
        let sizes = (inputs.values.map(\.shape) + targets.values.map(\.shape)).map { $0.first }
        precondition(Set(sizes).count == 1 && sizes[0] != nil,
                     "Batch: every input and target needs the same leading (batch) dimension, got "
                     + (inputs.sorted { $0.key < $1.key } + targets.sorted { $0.key < $1.key }).map { "\($0.key) \($0.value.shape)" }.joined(separator: ", "))
        namedInputs = inputs
        namedTargets = targets
    }

    /// The only input (of a batch with one).
    public var inputs: Tensor {
        get { namedInputs[Self.onlyName(namedInputs, "inputs")]! }
        set { namedInputs = [Self.onlyName(namedInputs, "inputs"): newValue] }
    }

    /// The only target (of a batch with one).
    public var targets: Tensor {
        get { namedTargets[Self.onlyName(namedTargets, "targets")]! }
        set { namedTargets = [namedTargets.isEmpty ? Self.unnamed : Self.onlyName(namedTargets, "targets"): newValue] }
    }

    /// The number of examples.
    public var count: Int { namedInputs.first!.value.shape[0] }

    private static func onlyName(_ tensors: [String: Tensor], _ role: String) -> String {
        precondition(tensors.count == 1, "Batch.\(role): the batch has \(tensors.count) \(role) (\(tensors.keys.sorted().joined(separator: ", "))); "
                     + "read them by name with named\(role.prefix(1).uppercased() + role.dropFirst())")
        return tensors.first!.key
    }
}

/// Anything `fit` draws batches from, epoch after epoch: a `DataLoader` or a pipeline of
/// batches. The batches of an epoch are a function of the epoch number alone (seeded), so
/// training resumed in the middle of an epoch sees exactly the batches an uninterrupted
/// run would have seen.
public protocol BatchProvider {
    /// Batches per epoch, when known.
    var batchesPerEpoch: Int? { get }
    /// The batches of `epoch` (counted from 0) in order, after skipping the first `skip`.
    /// Dropping the iterator early stops any background work it started.
    func batches(epoch: Int, skipping skip: Int) -> AnyIterator<Batch>
}
