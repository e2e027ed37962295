import CZlib
import Ember
import EmberIO
import EmberNN
import EmberOptim
import Foundation

/// Everything needed to continue a training run exactly: the model's weights and buffers,
/// the optimizer's state, the callbacks' states (schedules, early stopping), the epoch and
/// step counts, the history, and the global random generator's position. The order of the
/// data is a function of the epoch (see `BatchProvider`), so the epoch fixes it. Taken in
/// the middle of an epoch, it also holds the batches done and the epoch's running loss and
/// metrics, and training resumes with the next batch.
///
/// On disk it is a safetensors file: tensors `model.<key>` and `optimizer.<key>`, and in
/// the metadata the progress as JSON plus a CRC-32 of the tensor bytes, so a file corrupted
/// after it was written is refused rather than loaded. Writes are atomic: a crash or kill
/// during a save leaves the previous file in place.
public struct TrainingCheckpoint {
    public var progress: Progress
    public var modelState: [String: Tensor]
    public var optimizerState: OptimizerState

    /// The counters and small records of a run.
    public struct Progress: Codable, Equatable {
        /// Identifies the architecture (`ember train` stores the model name), checked on restore.
        public var model: String?
        /// Epochs completed.
        public var epoch: Int
        /// Batches completed of the epoch under way (0 at an epoch's end).
        public var batchInEpoch: Int
        public var globalStep: Int
        /// The running loss and each metric's accumulators, by name, of the epoch under way.
        public var epochLoss: [Double]
        public var metrics: [String: [Double]]
        public var history: History
        public var generatorKey: UInt64
        public var generatorPosition: UInt64
        public var optimizer: OptimizerState.Info
        /// Each stateful callback's saved state (JSON), by its key.
        public var callbacks: [String: String]
        /// Whatever else the caller wants kept (a run's configuration, say).
        public var extra: [String: String]
    }

    static let format = "ember-training-checkpoint-1"

    /// JSON for the progress record; histories hold NaN where a value was not logged.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()

    /// The current state of `trainer`.
    public init(_ trainer: Trainer, model name: String? = nil, extra: [String: String] = [:]) throws {
        let optimizerState = trainer.optimizer.stateDict()
        var callbackStates: [String: String] = [:]
        for case let callback as any StatefulCallback in trainer.callbacks {
            precondition(callbackStates[callback.stateKey] == nil,
                         "TrainingCheckpoint: two callbacks share the state key '\(callback.stateKey)'")
            callbackStates[callback.stateKey] = String(decoding: try callback.savedState(), as: UTF8.self)
        }
        var metricStates: [String: [Double]] = [:]
        if trainer.batchInEpoch > 0 {
            for metric in trainer.metrics {
                guard let resumable = metric as? any ResumableMetric else {
                    throw CheckpointError(file: "at epoch \(trainer.epoch + 1), batch \(trainer.batchInEpoch)", problem: "cannot be taken in the middle of an epoch: the metric '\(metric.name)' cannot save its running value (it is not a ResumableMetric)")
                }
                metricStates[metric.name] = resumable.accumulators
            }
        }
        let generator = Generator.global.state
        progress = Progress(model: name, epoch: trainer.epoch, batchInEpoch: trainer.batchInEpoch, globalStep: trainer.globalStep,
                            epochLoss: trainer.epochLoss.accumulators, metrics: metricStates, history: trainer.history,
                            generatorKey: generator.key, generatorPosition: generator.position,
                            optimizer: optimizerState.info, callbacks: callbackStates, extra: extra)
        modelState = trainer.model.stateDict()
        self.optimizerState = optimizerState
    }

    /// Writes the checkpoint to `url` atomically.
    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (key, tensor) in modelState { tensors["model." + key] = tensor }
        for (key, tensor) in optimizerState.tensors { tensors["optimizer." + key] = tensor }
        // Encoded once with a placeholder checksum of fixed width, which is then overwritten in
        // the header with the CRC of the data section (the header's length does not change).
        let metadata = [
            "format": Self.format,
            "progress": String(decoding: try Self.encoder.encode(progress), as: UTF8.self),
            "crc32": Self.checksumPlaceholder,
        ]
        var file = try SafeTensors.encode(tensors, metadata: metadata)
        let placeholder = Data("\"crc32\":\"\(Self.checksumPlaceholder)\"".utf8)
        let headerEnd = 8 + Int(file.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        guard let range = file.range(of: placeholder, in: 8..<headerEnd) else {
            preconditionFailure("TrainingCheckpoint: the checksum placeholder is missing from the header")
        }
        let checksum = String(Self.crc32(ofDataSection: file), radix: 16)
        let digits = String(repeating: "0", count: 8 - checksum.count) + checksum
        file.replaceSubrange(range, with: Data("\"crc32\":\"\(digits)\"".utf8))
        try AtomicFile.write(file, to: url)
    }

    private static let checksumPlaceholder = "00000000"

    /// Reads and verifies a checkpoint (format, checksum, progress record) without
    /// applying it anywhere.
    public init(contentsOf url: URL) throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: url.path, problem: problem) }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw fail(FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "does not exist")
        }
        let file: (tensors: [String: Tensor], metadata: [String: String])
        do {
            file = try SafeTensors.decode(data, source: url.path)
        } catch let error as SafeTensorsError {
            throw fail("is not a valid checkpoint (truncated or corrupt?): \(error.problem)")
        }
        guard file.metadata["format"] == Self.format else {
            throw fail("is not an Ember training checkpoint (format \(file.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(Self.format)')")
        }
        guard let expected = file.metadata["crc32"].flatMap({ UInt32($0, radix: 16) }), expected == Self.crc32(ofDataSection: data) else {
            throw fail("is corrupt: the tensor data does not match its checksum")
        }
        guard let json = file.metadata["progress"], let progress = try? Self.decoder.decode(Progress.self, from: Data(json.utf8)) else {
            throw fail("is corrupt: its progress record cannot be decoded")
        }
        self.progress = progress
        modelState = [:]
        var optimizerTensors: [String: Tensor] = [:]
        for (key, tensor) in file.tensors {
            if key.hasPrefix("model.") {
                modelState[String(key.dropFirst(6))] = tensor
            } else if key.hasPrefix("optimizer.") {
                optimizerTensors[String(key.dropFirst(10))] = tensor
            } else {
                throw fail("holds an unexpected tensor '\(key)'")
            }
        }
        optimizerState = OptimizerState(tensors: optimizerTensors, info: progress.optimizer)
    }

    /// Puts the checkpoint into `trainer`: model, optimizer, callbacks, counters, history and
    /// the global generator. Everything that can fail to fit (another model's weights, another
    /// optimizer) is checked before anything changes, so a refused checkpoint leaves the
    /// trainer as it was. `source` names the file in errors.
    public func restore(into trainer: Trainer, expectingModel name: String? = nil, source: String = "checkpoint") throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: source, problem: problem) }
        if let name, let saved = progress.model, saved != name {
            throw fail("was saved from model '\(saved)', not '\(name)'")
        }
        let problems = Self.mismatches(between: trainer.model.stateDict(), and: modelState)
        guard problems.isEmpty else {
            throw fail("does not fit this model: " + problems.prefix(5).joined(separator: "; ")
                       + (problems.count > 5 ? "; and \(problems.count - 5) more" : ""))
        }
        if progress.batchInEpoch > 0 {
            for metric in trainer.metrics where !(metric is any ResumableMetric) || progress.metrics[metric.name] == nil {
                throw fail("was taken in the middle of an epoch without the running value of the metric '\(metric.name)'")
            }
        }
        do {
            try trainer.optimizer.loadStateDict(optimizerState)
        } catch {
            throw fail("does not fit this optimizer: \(error)")
        }
        _ = try trainer.model.loadStateDict(modelState, strict: true)
        for case let callback as any StatefulCallback in trainer.callbacks {
            if let state = progress.callbacks[callback.stateKey] { try callback.restoreState(from: Data(state.utf8)) }
        }
        if progress.batchInEpoch > 0 {
            try trainer.epochLoss.restore(accumulators: progress.epochLoss)
            for case let metric as any ResumableMetric in trainer.metrics {
                try metric.restore(accumulators: progress.metrics[metric.name]!)
            }
        }
        trainer.epoch = progress.epoch
        trainer.batchInEpoch = progress.batchInEpoch
        trainer.globalStep = progress.globalStep
        trainer.history = progress.history
        Generator.global.state = (progress.generatorKey, progress.generatorPosition)
    }

    /// Keys missing, unexpected or of another shape, as `loadStateDict` would find them.
    private static func mismatches(between current: [String: Tensor], and saved: [String: Tensor]) -> [String] {
        var problems: [String] = []
        for key in current.keys.sorted() {
            guard let tensor = saved[key] else { problems.append("missing '\(key)'"); continue }
            if tensor.shape != current[key]!.shape {
                problems.append("'\(key)' has shape \(tensor.shape), the model \(current[key]!.shape)")
            }
        }
        for key in saved.keys.sorted() where current[key] == nil { problems.append("unexpected '\(key)'") }
        return problems
    }

    /// CRC-32 of the bytes after a safetensors header.
    private static func crc32(ofDataSection file: Data) -> UInt32 {
        file.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> UInt32 in
            guard bytes.count >= 8 else { return 0 }
            let headerLength = Int(bytes.loadUnaligned(as: UInt64.self).littleEndian)
            let start = 8 + headerLength
            guard start <= bytes.count else { return 0 }
            var crc = CZlib.crc32(0, nil, 0)
            var offset = start
            // zlib takes 32-bit lengths.
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(chunk))
                offset += chunk
            }
            return UInt32(crc)
        }
    }
}

/// A checkpoint that cannot be read or does not fit, naming the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "checkpoint \(file) \(problem)" }
}
