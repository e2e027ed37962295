import Foundation

/// How `ember serve` runs: where it listens, the model repository and its polling, batching,
/// and the limits every request is held to.
public struct ServeConfiguration: Sendable {
    public var modelDirectory: URL
    /// 127.0.0.1 unless told otherwise: a model server is not put on a network by accident.
    public var host = "127.0.0.1"
    /// TF Serving's REST port; 0 picks a free one (tests).
    public var port = 8501
    /// Versions served instead of the latest, by model name.
    public var pinnedVersions: [String: Int] = [:]
    public var pollInterval: Duration = .seconds(2)
    public var batching = BatchingPolicy()
    public var maxBodyBytes = 16 << 20
    public var requestTimeout: Duration = .seconds(30)
    /// When set, every request but the health checks needs `Authorization: Bearer TOKEN`.
    public var bearerToken: String?
    /// Ember's version, for the Open Inference Protocol's server metadata.
    public var serverVersion = "0"

    public init(modelDirectory: URL) {
        self.modelDirectory = modelDirectory
    }
}
