import Ember
import EmberDistributed
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
/// the metadata the progress as JSON plus a CRC-32 of the whole file (header and metadata
/// included, with the checksum's own digits taken as zeros), so a file corrupted or edited
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
        /// The loss scaler's state, for runs that scale (float16); absent in older files.
        public var gradScaler: GradScaler.State? = nil

        /// The first field that no run can have written (a negative count), and why.
        var problem: (field: String, problem: String)? {
            let counts = [("epoch", epoch), ("batchInEpoch", batchInEpoch), ("globalStep", globalStep)]
            for (field, value) in counts where value < 0 { return (field, "\(value) is negative; counts start at 0") }
            if globalStep < batchInEpoch {
                return ("globalStep", "\(globalStep) steps in all is fewer than the \(batchInEpoch) batches done of the current epoch")
            }
            return nil
        }
    }

    static let format = "ember-training-checkpoint-2"
    /// Files of format 1 carry a checksum of the tensor data only; they still load.
    static let dataChecksumFormat = "ember-training-checkpoint-1"

    /// The current state of `trainer`. With sharded training state (a `ShardedOptimizer`,
    /// fully sharded units) this is a collective that every rank must call: each gets the
    /// whole, consolidated state (the one a single process would have), and rank 0 writes it.
    public init(_ trainer: Trainer, model name: String? = nil, extra: [String: String] = [:]) throws {
        let optimizerState = try consolidatedOptimizerState(of: trainer.optimizer, model: trainer.model)
        let consolidatedModel = try consolidatedStateDict(of: trainer.model)
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
                    throw CallbackError("a checkpoint at epoch \(trainer.epoch + 1), batch \(trainer.batchInEpoch) cannot be taken in the middle of an epoch: the metric '\(metric.name)' cannot save its running value (it is not a ResumableMetric)")
                }
                metricStates[metric.name] = resumable.accumulators
            }
        }
        let generator = Generator.global.state
        progress = Progress(model: name, epoch: trainer.epoch, batchInEpoch: trainer.batchInEpoch, globalStep: trainer.globalStep,
                            epochLoss: trainer.epochLoss.accumulators, metrics: metricStates, history: trainer.history,
                            generatorKey: generator.key, generatorPosition: generator.position,
                            optimizer: optimizerState.info, callbacks: callbackStates, extra: extra,
                            gradScaler: trainer.gradScaler?.state)
        // Copies: training updates parameters and optimizer buffers in place, and a checkpoint
        // kept in memory must stay the state it was taken from.
        modelState = noGrad { consolidatedModel.mapValues { $0.cloned() } }
        self.optimizerState = OptimizerState(tensors: noGrad { optimizerState.tensors.mapValues { $0.cloned() } }, info: optimizerState.info)
    }

    /// Writes the checkpoint to `url` atomically.
    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (key, tensor) in modelState { tensors["model." + key] = tensor }
        for (key, tensor) in optimizerState.tensors { tensors["optimizer." + key] = tensor }
        // Encoded once with a placeholder checksum of fixed width, which is then overwritten in
        // the header with the CRC of the whole file (the header's length does not change).
        let metadata = [
            "format": Self.format,
            "progress": String(decoding: try CheckpointJSON.encoder.encode(progress), as: UTF8.self),
            "crc32": Self.checksumPlaceholder,
        ]
        var file = try SafeTensors.encode(tensors, metadata: metadata)
        guard let digits = Self.checksumDigits(in: file, reading: Self.checksumPlaceholder) else {
            preconditionFailure("TrainingCheckpoint: the checksum placeholder is missing from the header")
        }
        let checksum = String(Self.crc32(file), radix: 16)
        file.replaceSubrange(digits, with: Data((String(repeating: "0", count: 8 - checksum.count) + checksum).utf8))
        try AtomicFile.write(file, to: url, format: .checkpoint)
    }

    private static let checksumPlaceholder = "00000000"

    /// Where the checksum's 8 hex digits `digits` sit in the file's header.
    private static func checksumDigits(in file: Data, reading digits: String) -> Range<Int>? {
        guard file.count >= 8 else { return nil }
        let headerLength = file.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard headerLength <= UInt64(file.count - 8) else { return nil }
        let field = Data("\"crc32\":\"\(digits)\"".utf8)
        guard let range = file.range(of: field, in: 8..<(8 + Int(headerLength))) else { return nil }
        return (range.upperBound - 9)..<(range.upperBound - 1)
    }

    /// Reads and verifies a checkpoint (format, checksum, progress record) without
    /// applying it anywhere.
    public init(contentsOf url: URL) throws {
        func fail(_ problem: String, member: String? = nil) -> FileError { FileError(.checkpoint, path: url.path, member: member, problem: problem) }
        let data = try FileError.contents(of: url, format: .checkpoint)
        let file: (tensors: [String: Tensor], metadata: [String: String])
        do {
            file = try SafeTensors.decode(data, source: url.path)
        } catch let error as FileError {
            throw fail("not a valid checkpoint (truncated or corrupt?): \(error.problem)")
        }
        let format = file.metadata["format"]
        guard format == Self.format || format == Self.dataChecksumFormat else {
            throw fail("not an Ember training checkpoint (format \(format.map { "'\($0)'" } ?? "missing"), expected '\(Self.format)')")
        }
        guard let recorded = file.metadata["crc32"], recorded.count == 8, let expected = UInt32(recorded, radix: 16) else {
            throw fail("corrupt: its checksum is missing or malformed")
        }
        if format == Self.format {
            var zeroed = data
            guard let digits = Self.checksumDigits(in: data, reading: recorded) else { throw fail("corrupt: its header was edited") }
            zeroed.replaceSubrange(digits, with: Data(Self.checksumPlaceholder.utf8))
            guard expected == Self.crc32(zeroed) else { throw fail("corrupt: the header or the tensor data does not match its checksum") }
        } else {
            guard expected == Self.crc32(ofDataSection: data) else { throw fail("corrupt: the tensor data does not match its checksum") }
        }
        guard let json = file.metadata["progress"] else { throw fail("corrupt: it has no progress record") }
        let progress = try JSONFile.decode(Progress.self, from: Data(json.utf8), path: url.path, format: .checkpoint, decoder: CheckpointJSON.decoder)
        if let (field, problem) = progress.problem { throw fail(problem, member: "progress." + field) }
        self.progress = progress
        modelState = [:]
        var optimizerTensors: [String: Tensor] = [:]
        for (key, tensor) in file.tensors {
            if key.hasPrefix("model.") {
                modelState[String(key.dropFirst(6))] = tensor
            } else if key.hasPrefix("optimizer.") {
                optimizerTensors[String(key.dropFirst(10))] = tensor
            } else {
                throw fail("holds an unexpected tensor '\(key)' (expected model.* and optimizer.* tensors)")
            }
        }
        optimizerState = OptimizerState(tensors: optimizerTensors, info: progress.optimizer)
    }

    /// Puts the checkpoint into `trainer`: model, optimizer, callbacks, counters, history and
    /// the global generator. Everything that can fail to fit (another model's weights, another
    /// optimizer) is checked before anything changes, so a refused checkpoint leaves the
    /// trainer as it was. `source` names the file in errors. With `batchesPerEpoch`, the
    /// data the run continues on, a checkpoint taken further into an epoch is refused.
    /// Data-parallel, every rank restores the same checkpoint; with sharded training state
    /// it may have been saved at another world size (its state is the consolidated one).
    public func restore(into trainer: Trainer, expectingModel name: String? = nil, batchesPerEpoch: Int? = nil,
                        source: String = "<memory>") throws {
        func fail(_ problem: String, member: String? = nil) -> FileError { FileError(.checkpoint, path: source, member: member, problem: problem) }
        if let name, let saved = progress.model, saved != name {
            throw fail("saved from model '\(saved)', not '\(name)'")
        }
        if let batchesPerEpoch, progress.batchInEpoch > batchesPerEpoch {
            throw fail("\(progress.batchInEpoch) batches of the epoch are done, but the data has \(batchesPerEpoch) per epoch: resume on the data the run was trained on",
                       member: "progress.batchInEpoch")
        }
        let problems = Self.mismatches(between: consolidatedStateShapes(of: trainer.model), and: modelState)
        guard problems.isEmpty else {
            throw fail("does not fit this model: " + problems.prefix(5).joined(separator: "; ")
                       + (problems.count > 5 ? "; and \(problems.count - 5) more" : ""))
        }
        if progress.batchInEpoch > 0 {
            for metric in trainer.metrics where !(metric is any ResumableMetric) || progress.metrics[metric.name] == nil {
                throw fail("taken in the middle of an epoch without the running value of the metric '\(metric.name)'")
            }
        }
        // The parts whose saved state is checked only by loading it: each records how to put
        // back what it replaced, so a refusal part-way leaves the trainer as it was.
        var undo: [() -> Void] = []
        do {
            for case let callback as any StatefulCallback in trainer.callbacks {
                guard let state = progress.callbacks[callback.stateKey] else { continue }
                let before = try callback.savedState()
                do {
                    try callback.restoreState(from: Data(state.utf8))
                } catch let error as DecodingError {
                    let (key, problem) = JSONFile.explain(error)
                    throw fail(problem, member: "progress.callbacks.\(callback.stateKey)" + (key.map { "." + $0 } ?? ""))
                } catch {
                    throw fail("does not fit this run: \(error)", member: "progress.callbacks.\(callback.stateKey)")
                }
                undo.append { try? callback.restoreState(from: before) }
            }
            if progress.batchInEpoch > 0 {
                var running: [(metric: any ResumableMetric, saved: [Double], member: String)] =
                    [(trainer.epochLoss, progress.epochLoss, "progress.epochLoss")]
                for case let metric as any ResumableMetric in trainer.metrics {
                    running.append((metric, progress.metrics[metric.name]!, "progress.metrics.\(metric.name)"))
                }
                for (metric, saved, member) in running {
                    let before = metric.accumulators
                    do {
                        try metric.restore(accumulators: saved)
                    } catch {
                        throw fail("\(error)", member: member)
                    }
                    undo.append { try? metric.restore(accumulators: before) }
                }
            }
            if let saved = progress.gradScaler, let scaler = trainer.gradScaler {
                let before = scaler.state
                do {
                    try scaler.load(saved)
                } catch {
                    throw fail("\(error)", member: "progress.gradScaler")
                }
                undo.append { try? scaler.load(before) }
            }
            do {
                try loadConsolidatedOptimizerState(optimizerState, into: trainer.optimizer, model: trainer.model)
            } catch {
                throw fail("does not fit this optimizer: \(error)")
            }
        } catch {
            undo.reversed().forEach { $0() }
            throw error
        }
        // A collective when the model has fully sharded units (every rank restores).
        try loadConsolidatedStateDict(modelState, into: trainer.model)
        trainer.epoch = progress.epoch
        trainer.batchInEpoch = progress.batchInEpoch
        trainer.globalStep = progress.globalStep
        trainer.history = progress.history
        Generator.global.state = (progress.generatorKey, progress.generatorPosition)
    }

    /// Keys missing, unexpected or of another shape, as `loadStateDict` would find them.
    private static func mismatches(between current: [String: [Int]], and saved: [String: Tensor]) -> [String] {
        var problems: [String] = []
        for key in current.keys.sorted() {
            guard let tensor = saved[key] else { problems.append("missing '\(key)'"); continue }
            if tensor.shape != current[key]! {
                problems.append("'\(key)' has shape \(tensor.shape), the model \(current[key]!)")
            }
        }
        for key in saved.keys.sorted() where current[key] == nil { problems.append("unexpected '\(key)'") }
        return problems
    }

    /// CRC-32 of a whole file.
    private static func crc32(_ file: Data) -> UInt32 {
        file.withUnsafeBytes { Compression.crc32($0) }
    }

    /// CRC-32 of the bytes after a safetensors header (format 1).
    private static func crc32(ofDataSection file: Data) -> UInt32 {
        file.withUnsafeBytes { bytes in
            guard bytes.count >= 8 else { return 0 }
            let headerLength = bytes.loadUnaligned(as: UInt64.self).littleEndian
            guard headerLength <= UInt64(bytes.count - 8) else { return 0 }
            return Compression.crc32(UnsafeRawBufferPointer(rebasing: bytes[(8 + Int(headerLength))...]))
        }
    }
}
