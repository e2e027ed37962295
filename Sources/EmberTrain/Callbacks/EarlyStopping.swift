import Ember
import Foundation

/// Stops training once the monitored value has gone `patience` epochs without improving
/// (Keras's EarlyStopping); optionally puts back the weights of the best epoch at the end.
public final class EarlyStopping: StatefulCallback {
    public let monitor: Monitor
    public let patience: Int
    public let restoreBestWeights: Bool

    public private(set) var best: Double?
    public private(set) var bestEpoch: Int?
    /// Epochs since the last improvement.
    public private(set) var wait = 0
    /// The epoch after which training stopped, if it did.
    public private(set) var stoppedEpoch: Int?
    /// Copies of the best epoch's weights and buffers (kept in memory only).
    private var bestState: [String: Tensor]?

    public init(monitor: Monitor = Monitor("val_loss"), patience: Int = 0, restoreBestWeights: Bool = false) {
        precondition(patience >= 0, "EarlyStopping: patience must not be negative, got \(patience)")
        self.monitor = monitor
        self.patience = patience
        self.restoreBestWeights = restoreBestWeights
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        let value = try monitor.value(in: logs, for: "EarlyStopping")
        if monitor.isImprovement(value, over: best) {
            best = value
            bestEpoch = epoch
            wait = 0
            if restoreBestWeights {
                bestState = noGrad { trainer.model.stateDict().mapValues { $0.cloned() } }
            }
        } else {
            wait += 1
            if wait >= patience {
                stoppedEpoch = epoch
                trainer.stopTraining = true
            }
        }
    }

    public func trainEnded(_ trainer: Trainer) throws {
        if restoreBestWeights, stoppedEpoch != nil, let bestState {
            _ = try trainer.model.loadStateDict(bestState, strict: true)
        }
    }

    private struct State: Codable {
        var best: Double?
        var bestEpoch: Int?
        var wait: Int
    }

    public var stateKey: String { "early_stopping.\(monitor.key)" }

    public func savedState() throws -> Data {
        try CheckpointJSON.encoder.encode(State(best: best, bestEpoch: bestEpoch, wait: wait))
    }

    public func restoreState(from data: Data) throws {
        let state = try CheckpointJSON.decoder.decode(State.self, from: data)
        (best, bestEpoch, wait) = (state.best, state.bestEpoch, state.wait)
    }
}
