import Dispatch
import Ember
import EmberData

/// One example of a request, decoded from JSON but not yet prepared for the model.
enum ExampleInput: Sendable {
    /// An image file's bytes, decoded.
    case image(Image)
    /// Pixel values at the model's channels and size, channels first, scaled to [0, 1].
    case pixels([Float])
    /// Raw feature values in the order of the model's feature names.
    case features([Float])
    case text(String)
    /// Typed tensors by input name, for models that take tensors as their graph declares them.
    case tensors([String: TensorValue])
}

/// A typed tensor's values in row-major order. Every data type Ember serves is held as
/// Doubles: JSON numbers are Doubles, and integers up to 2^53 are exact.
struct TensorValue: Equatable, Sendable {
    let datatype: DataType
    let shape: [Int]
    let values: [Double]
    /// INT64 elements exactly (`values` rounds those beyond 2^53); nil for other types.
    var integers: [Int64]? = nil

    /// The elements as Int64: exact where known, otherwise the values truncated, clamped to
    /// Int64's range (NaN as 0).
    var int64s: [Int64] { integers ?? values.map(Self.int64) }

    static func int64(_ value: Double) -> Int64 {
        value.isNaN ? 0 : value >= 0x1p63 ? .max : value <= -0x1p63 ? .min : Int64(value)
    }

    /// Element `offset` as JSON: a boolean for BOOL, an exact integer for INT64.
    func json(at offset: Int) -> JSONValue {
        if datatype == .bool { return .bool(values[offset] != 0) }
        if let integers { return .integer(integers[offset]) }
        return .number(values[offset])
    }
}

/// An example ready for the model's forward: a tensor from the run's preprocessing, a text
/// that a sentence embedder tokenizes with its batch, or an ONNX model's input tensors. Created on a request's task,
/// then only read by the compute queue.
enum PreparedExample: @unchecked Sendable {
    case tensor(Tensor)
    case text(String)
    /// One tensor per model input, in the signature's order.
    case tensors([Tensor])
}

/// One example's outputs, by output name.
typealias ExampleOutput = [String: OutputValue]

enum OutputValue: Equatable, Sendable {
    case floats([Float])
    case string(String)
    /// A typed tensor of any rank, for models whose outputs are their graph's.
    case tensor(TensorValue)
}

/// A model the server answers with: its signature, how an example is prepared (on the
/// request's task, so that a bad example fails only its own request) and the batched
/// forward (on the compute queue only). A forward that throws fails the requests of its batch.
protocol Servable: AnyObject, Sendable {
    var signature: Signature { get }
    /// The class names of a classifier (`:classify`); empty for an embedder.
    var classNames: [String] { get }
    /// What kind of examples the input takes, to decode requests.
    var inputKind: InputKind { get }
    func prepare(_ example: ExampleInput) throws -> PreparedExample
    func forward(_ batch: [PreparedExample]) throws -> [ExampleOutput]
}

/// What a model's examples are, for decoding requests.
enum InputKind: Equatable, Sendable {
    case image(channels: Int, height: Int, width: Int)
    case features(names: [String])
    case text
    /// The typed tensors of the signature's inputs. `batched`: every input and output has a
    /// dynamic first axis, the batch, so that examples can be stacked and answers split;
    /// otherwise a request is one example of whole tensors.
    case tensors(batched: Bool)

    var takesTensors: Bool { if case .tensors = self { return true } else { return false } }
    /// Whether examples are rows of a batch axis (every kind but a tensor model without one).
    var isBatched: Bool { self != .tensors(batched: false) }
}

/// The one thread that runs models: loading, and every forward. One forward at a time uses
/// all cores through oneDNN's thread pool; model modules are not shared across threads.
enum ComputeQueue {
    private static let queue = DispatchQueue(label: "ember.serve.compute", qos: .userInitiated)

    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
