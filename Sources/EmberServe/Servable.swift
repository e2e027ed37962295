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
}

/// An example ready for the model's forward: a tensor from the run's preprocessing, or a
/// text that a sentence embedder tokenizes with its batch. Created on a request's task,
/// then only read by the compute queue.
enum PreparedExample: @unchecked Sendable {
    case tensor(Tensor)
    case text(String)
}

/// One example's outputs, by output name.
typealias ExampleOutput = [String: OutputValue]

enum OutputValue: Equatable, Sendable {
    case floats([Float])
    case string(String)
}

/// A model the server answers with: its signature, how an example is prepared (on the
/// request's task, so that a bad example fails only its own request) and the batched
/// forward (on the compute queue only).
protocol Servable: AnyObject, Sendable {
    var signature: Signature { get }
    /// The class names of a classifier (`:classify`); empty for an embedder.
    var classNames: [String] { get }
    /// What kind of examples the input takes, to decode requests.
    var inputKind: InputKind { get }
    func prepare(_ example: ExampleInput) throws -> PreparedExample
    func forward(_ batch: [PreparedExample]) -> [ExampleOutput]
}

/// What a model's examples are, for decoding requests.
enum InputKind: Equatable, Sendable {
    case image(channels: Int, height: Int, width: Int)
    case features(names: [String])
    case text
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
