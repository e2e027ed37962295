import EmberIO
import Foundation

/// Saves training checkpoints at the end of every epoch (after the other callbacks, so the
/// saved state includes their updates): `last.ckpt` always, and `best.ckpt` when the
/// monitored value improves; with `everySteps`, also `last.ckpt` every that many optimizer
/// steps, so that a long epoch killed midway resumes from its last such step. Either file
/// can be given to `TrainingCheckpoint(contentsOf:)` to resume or to load the weights.
///
/// In data-parallel training rank 0 alone runs it; with sharded training state (ZeRO,
/// FSDP) every rank runs it to gather the consolidated state, and rank 0 alone writes.
public final class ModelCheckpoint: StatefulCallback {
    /// Rank 0 alone, in data-parallel training (every rank when the state is sharded: `Trainer`).
    public var runsOnEveryRank: Bool { false }
    public let directory: URL
    public let monitor: Monitor
    public let saveBest: Bool
    public let everySteps: Int?
    /// Stored in each checkpoint and checked when resuming (the architecture's name).
    public let modelName: String?
    /// Kept in each checkpoint (a run's configuration, say).
    public var extra: [String: String]

    public private(set) var best: Double?

    public var lastURL: URL { directory.appendingPathComponent("last.ckpt") }
    public var bestURL: URL { directory.appendingPathComponent("best.ckpt") }

    public init(directory: URL, monitor: Monitor = Monitor("val_loss"), saveBest: Bool = true, everySteps: Int? = nil,
                modelName: String? = nil, extra: [String: String] = [:]) {
        precondition(everySteps.map { $0 > 0 } ?? true, "ModelCheckpoint: everySteps must be positive, got \(everySteps!)")
        self.directory = directory
        self.everySteps = everySteps
        self.monitor = monitor
        self.saveBest = saveBest
        self.modelName = modelName
        self.extra = extra
    }

    public var phase: CallbackPhase { .saving }

    public func trainBegan(_ trainer: Trainer) throws {
        guard trainer.isMainRank else { return }
        let files = FileManager.default
        do {
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw FileError(.checkpoint, path: directory.path, problem: "cannot create the directory: \(FileError.systemReason(error))")
        }
        // A process killed while writing leaves its temporary file behind (the checkpoint it
        // was replacing is intact); remove such leftovers.
        for name in (try? files.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix(".") && name.hasSuffix(".tmp") && (name.contains(".last.ckpt.") || name.contains(".best.ckpt.")) {
            try? files.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let everySteps, trainer.globalStep % everySteps == 0 else { return }
        let checkpoint = try TrainingCheckpoint(trainer, model: modelName, extra: extra)
        if trainer.isMainRank { try checkpoint.write(to: lastURL) }
    }

    public func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        var improved = false
        if saveBest {
            let value = try monitor.value(in: logs, for: "ModelCheckpoint")
            if monitor.isImprovement(value, over: best) {
                best = value
                improved = true
            }
        }
        // Made after updating `best`, so that the files carry it.
        let checkpoint = try TrainingCheckpoint(trainer, model: modelName, extra: extra)
        guard trainer.isMainRank else { return }
        if improved { try checkpoint.write(to: bestURL) }
        try checkpoint.write(to: lastURL)
    }

    private struct State: Codable {
        var best: Double?
    }

    public var stateKey: String { "model_checkpoint" }

    public func savedState() throws -> Data { try CheckpointJSON.encoder.encode(State(best: best)) }

    public func restoreState(from data: Data) throws {
        best = try CheckpointJSON.decoder.decode(State.self, from: data).best
    }
}
