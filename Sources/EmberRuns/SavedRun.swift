import Ember
import EmberIO
import EmberNN
import EmberTrain
import Foundation

/// A model trained by `ember train`, rebuilt from its run directory: the architecture and
/// input from `model.json`, the settings from `config.json`, the weights from a checkpoint.
public struct SavedRun {
    public let directory: URL
    public let checkpoint: URL
    public let config: TrainConfig
    public let card: ModelCard
    public let model: any Layer

    /// `path` is a run directory, whose `checkpoints/best.ckpt` is used (or `last.ckpt` when
    /// there is no best yet), or a checkpoint file inside a run's `checkpoints/`.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw RunError("\(path) does not exist: give a run directory written by ember train or a checkpoint file in one")
        }
        if isDirectory.boolValue {
            directory = url
            let checkpoints = url.appendingPathComponent("checkpoints")
            let best = checkpoints.appendingPathComponent("best.ckpt"), last = checkpoints.appendingPathComponent("last.ckpt")
            guard let found = [best, last].first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
                throw RunError("\(path) holds no checkpoint (expected checkpoints/best.ckpt or checkpoints/last.ckpt)")
            }
            checkpoint = found
        } else {
            checkpoint = url
            directory = url.deletingLastPathComponent().deletingLastPathComponent()
        }
        card = try ModelCard.read(from: directory)
        config = try TrainConfig.read(from: directory.appendingPathComponent("config.json"))
        let saved = try TrainingCheckpoint(contentsOf: checkpoint)
        if let name = saved.progress.model, name != card.model {
            throw RunError("\(checkpoint.path) holds a '\(name)' model, but \(directory.path) describes a '\(card.model)'")
        }
        manualSeed(config.seed)
        do {
            model = try ModelRegistry.make(card.model, input: card.input, classes: card.outputs)
        } catch {
            throw FileError(.runModel, path: directory.appendingPathComponent(ModelCard.fileName).path, problem: "\(error)")
        }
        do {
            _ = try model.loadStateDict(saved.modelState, strict: true)
        } catch {
            throw RunError("\(checkpoint.path) does not fit the model '\(card.model)': \(error)")
        }
        model.eval()
    }
}
