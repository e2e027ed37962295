import Foundation

/// Hooks into `Trainer.fit` (Keras's callbacks). Every method has an empty default, so a
/// callback implements only what it needs. `logs` hold the values so far: per batch the
/// running `loss` and metrics of the epoch; per epoch also `val_*`, `lr` and `seconds`.
/// Errors thrown by a callback (an unwritable log file, say) stop training and reach the
/// caller of `fit`.
public protocol Callback: AnyObject {
    /// Whether the callback runs with the others or after them, at every event.
    var phase: CallbackPhase { get }
    /// In data-parallel training, whether every rank runs the callback (those that change
    /// training: schedules, early stopping) or rank 0 alone (those that write files or print).
    var runsOnEveryRank: Bool { get }
    func trainBegan(_ trainer: Trainer) throws
    func epochBegan(_ epoch: Int, trainer: Trainer) throws
    /// A batch has been read and is about to be trained on.
    func batchBegan(_ batch: Int, trainer: Trainer) throws
    func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws
    func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws
    func trainEnded(_ trainer: Trainer) throws
}

/// Callbacks that save training state (checkpoints) run after the others, at the end of a
/// batch as at the end of an epoch, so that what they save includes the others' updates (a
/// schedule's step, early stopping's patience count).
public enum CallbackPhase: Sendable {
    case normal
    case saving
}

extension Callback {
    public var phase: CallbackPhase { .normal }
    public var runsOnEveryRank: Bool { true }
    public func trainBegan(_ trainer: Trainer) throws {}
    public func epochBegan(_ epoch: Int, trainer: Trainer) throws {}
    public func batchBegan(_ batch: Int, trainer: Trainer) throws {}
    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {}
    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {}
    public func trainEnded(_ trainer: Trainer) throws {}
}

/// A callback whose state a training checkpoint must carry for an exact resume (a
/// schedule's position, early stopping's best value). `stateKey` names it in the checkpoint;
/// it must be unique among a trainer's callbacks.
public protocol StatefulCallback: Callback {
    var stateKey: String { get }
    func savedState() throws -> Data
    func restoreState(from data: Data) throws
}

/// A callback from closures, for one-off hooks.
public final class LambdaCallback: Callback {
    private let onBatchEnd: ((Int, [String: Double], Trainer) throws -> Void)?
    private let onEpochEnd: ((Int, [String: Double], Trainer) throws -> Void)?

    public init(batchEnded: ((Int, [String: Double], Trainer) throws -> Void)? = nil,
                epochEnded: ((Int, [String: Double], Trainer) throws -> Void)? = nil) {
        onBatchEnd = batchEnded
        onEpochEnd = epochEnded
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        try onBatchEnd?(batch, logs, trainer)
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        try onEpochEnd?(epoch, logs, trainer)
    }
}
