import EmberOptim
import Foundation

/// Steps a learning-rate schedule during `fit`: after every epoch, or after every optimizer
/// step for schedules counted in steps (OneCycleLR, warm-up).
public final class LearningRateScheduler: StatefulCallback {
    public enum Interval: String, Sendable {
        case epoch, step
    }

    public let scheduler: LRScheduler
    public let interval: Interval

    public init(_ scheduler: LRScheduler, interval: Interval = .epoch) {
        self.scheduler = scheduler
        self.interval = interval
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        if interval == .step { scheduler.step() }
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        if interval == .epoch { scheduler.step() }
    }

    public var stateKey: String { "lr_scheduler" }

    public func savedState() throws -> Data { try CheckpointJSON.encoder.encode(scheduler.stateDict()) }

    public func restoreState(from data: Data) throws {
        try scheduler.loadStateDict(CheckpointJSON.decoder.decode(LRScheduler.State.self, from: data))
    }
}

/// Lowers the learning rate when the monitored value stops improving (Keras's and
/// PyTorch's ReduceLROnPlateau), once per epoch.
public final class ReduceLROnPlateauCallback: StatefulCallback {
    public let scheduler: ReduceLROnPlateau
    public let monitor: String

    /// The scheduler's mode (min or max) decides what counts as better.
    public init(_ scheduler: ReduceLROnPlateau, monitor: String = "val_loss") {
        self.scheduler = scheduler
        self.monitor = monitor
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        let value = try Monitor(monitor).value(in: logs, for: "ReduceLROnPlateau")
        scheduler.step(metric: value)
    }

    public var stateKey: String { "reduce_lr_on_plateau" }

    public func savedState() throws -> Data { try CheckpointJSON.encoder.encode(scheduler.stateDict()) }

    public func restoreState(from data: Data) throws {
        try scheduler.loadStateDict(CheckpointJSON.decoder.decode(ReduceLROnPlateau.State.self, from: data))
    }
}
