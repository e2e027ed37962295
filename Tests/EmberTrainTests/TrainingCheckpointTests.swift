import Ember
import EmberIO
import EmberNN
import EmberOptim
import Foundation
import XCTest
@testable import EmberTrain

final class TrainingCheckpointTests: XCTestCase {
    private let train = { () -> InMemoryBatches in
        let data = blobs(count: 200, seed: 11)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 32, seed: 5)
    }()

    private let validation = { () -> InMemoryBatches in
        let data = blobs(count: 64, seed: 12)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 64)
    }()

    /// A run with every kind of state: Adam moments, a schedule, dropout (the generator),
    /// early stopping's patience and the checkpoint callback's best value.
    private func makeTrainer(directory: URL, everySteps: Int? = nil, crashAtStep: Int? = nil) -> (Trainer, ModelCheckpoint) {
        let model = blobClassifier(seed: 4)
        let optimizer = Adam(model.parameters(), lr: 0.01)
        let checkpoints = ModelCheckpoint(directory: directory, monitor: Monitor("val_accuracy"), everySteps: everySteps,
                                          modelName: "blobs")
        // Steps the schedule per batch, so that a mid-epoch checkpoint must carry its position.
        let callbacks: [any Callback] = [
            LambdaCallback(batchEnded: { _, _, trainer in
                if trainer.globalStep == crashAtStep { throw CallbackError("simulated crash") }
            }),
            LearningRateScheduler(LRScheduler(optimizer, schedule: CosineAnnealingLR(tMax: 6 * 7)), interval: .step),
            EarlyStopping(monitor: Monitor("val_loss"), patience: 10),
            checkpoints,
        ]
        return (Trainer(model: model, optimizer: optimizer, loss: CrossEntropyLoss(), metrics: [Accuracy()],
                        callbacks: callbacks), checkpoints)
    }

    private func withoutTimes(_ history: History) -> [String: [Double]] {
        history.values.filter { $0.key != "seconds" }
    }

    func testResumedTrainingRepeatsAnUninterruptedRunExactly() throws {
        let (uninterrupted, _) = makeTrainer(directory: try temporaryDirectory())
        let reference = try uninterrupted.fit(train, epochs: 6, validation: validation)

        let directory = try temporaryDirectory()
        let (first, checkpoints) = makeTrainer(directory: directory)
        try first.fit(train, epochs: 3, validation: validation)
        // Whatever happens to the generator after the save must not matter.
        _ = Tensor.randomNormal([100])

        let (second, _) = makeTrainer(directory: directory)
        try TrainingCheckpoint(contentsOf: checkpoints.lastURL).restore(into: second, expectingModel: "blobs")
        XCTAssertEqual(second.epoch, 3)
        let resumed = try second.fit(train, epochs: 6, validation: validation)

        XCTAssertEqual(resumed.epochs, reference.epochs)
        XCTAssertEqual(withoutTimes(resumed), withoutTimes(reference), "bit-identical losses, metrics and rates")
        XCTAssertEqual(second.model.stateDict()["3.weight"]!.doubles, uninterrupted.model.stateDict()["3.weight"]!.doubles)
    }

    func testResumingFromTheMiddleOfAnEpochRepeatsAnUninterruptedRunExactly() throws {
        let (uninterrupted, _) = makeTrainer(directory: try temporaryDirectory())
        let reference = try uninterrupted.fit(train, epochs: 6, validation: validation)

        // 7 batches per epoch: the checkpoint of step 10 is batch 3 of epoch 2; the run dies at step 12.
        let directory = try temporaryDirectory()
        let (first, checkpoints) = makeTrainer(directory: directory, everySteps: 5, crashAtStep: 12)
        XCTAssertThrowsError(try first.fit(train, epochs: 6, validation: validation))
        let checkpoint = try TrainingCheckpoint(contentsOf: checkpoints.lastURL)
        XCTAssertEqual(checkpoint.progress.epoch, 1)
        XCTAssertEqual(checkpoint.progress.batchInEpoch, 3)
        XCTAssertEqual(checkpoint.progress.globalStep, 10)

        let (second, _) = makeTrainer(directory: directory, everySteps: 5)
        try checkpoint.restore(into: second)
        let resumed = try second.fit(train, epochs: 6, validation: validation)
        XCTAssertEqual(withoutTimes(resumed), withoutTimes(reference), "bit-identical epochs, the interrupted one included")
        XCTAssertEqual(second.globalStep, uninterrupted.globalStep)
    }

    func testAMidEpochCheckpointNeedsResumableMetrics() throws {
        final class Opaque: PredictionMetric {
            let name = "opaque"
            var result: Double { 0 }
            func reset() {}
            func update(predictions: Tensor, targets: Tensor) {}
        }
        let model = blobClassifier(seed: 4)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss(),
                              metrics: [Opaque()], callbacks: [ModelCheckpoint(directory: try temporaryDirectory(), everySteps: 2)])
        XCTAssertThrowsError(try trainer.fit(train, epochs: 1)) {
            XCTAssertTrue("\($0)".contains("the metric 'opaque' cannot save its running value"), "\($0)")
        }
    }

    func testTheBestCheckpointHoldsTheBestEpoch() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        let history = try trainer.fit(train, epochs: 4, validation: validation)
        let best = try TrainingCheckpoint(contentsOf: checkpoints.bestURL)
        let accuracies = history["val_accuracy"]!
        // The first epoch with the highest accuracy (later ties are not improvements).
        let bestEpoch = accuracies.firstIndex(of: accuracies.max()!)!
        XCTAssertEqual(best.progress.epoch, bestEpoch + 1)
        XCTAssertEqual(try TrainingCheckpoint(contentsOf: checkpoints.lastURL).progress.epoch, 4)
    }

    func testCorruptTruncatedAndForeignFilesAreRefused() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let good = try Data(contentsOf: checkpoints.lastURL)

        func refusal(_ bytes: Data) -> String {
            let url = directory.appendingPathComponent("bad.ckpt")
            try! bytes.write(to: url)
            do {
                _ = try TrainingCheckpoint(contentsOf: url)
                return "accepted"
            } catch {
                XCTAssertTrue("\(error)".contains(url.path), "the error names the file: \(error)")
                return "\(error)"
            }
        }
        var flipped = good
        flipped[good.count - 10] ^= 0x40
        XCTAssertTrue(refusal(flipped).contains("does not match its checksum"), refusal(flipped))
        XCTAssertTrue(refusal(good.prefix(good.count - 100)).contains("truncated or corrupt"))
        XCTAssertTrue(refusal(good.prefix(5)).contains("truncated or corrupt"))
        let plain = try SafeTensors.encode(["w": Tensor([1, 2] as [Float])])
        XCTAssertTrue(refusal(plain).contains("not an Ember training checkpoint"))
        XCTAssertThrowsError(try TrainingCheckpoint(contentsOf: directory.appendingPathComponent("missing.ckpt"))) {
            XCTAssertTrue("\($0)".contains("no such file"), "\($0)")
        }
    }

    func testACheckpointOfAnotherModelChangesNothing() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let checkpoint = try TrainingCheckpoint(contentsOf: checkpoints.lastURL)

        XCTAssertThrowsError(try checkpoint.restore(into: trainer, expectingModel: "resnet")) {
            XCTAssertTrue("\($0)".contains("saved from model 'blobs', not 'resnet'"), "\($0)")
        }

        manualSeed(0)
        let wider = Sequential(Linear(2, 32), ReLU(), Linear(32, 4))
        let optimizer = Adam(wider.parameters(), lr: 0.01)
        let other = Trainer(model: wider, optimizer: optimizer, loss: CrossEntropyLoss())
        let before = wider.stateDict().mapValues(\.doubles)
        XCTAssertThrowsError(try checkpoint.restore(into: other)) {
            XCTAssertTrue("\($0)".contains("does not fit this model"), "\($0)")
            XCTAssertTrue("\($0)".contains("'0.weight' has shape [16, 2], the model [32, 2]"), "\($0)")
        }
        XCTAssertEqual(wider.stateDict().mapValues(\.doubles), before)
        XCTAssertEqual(other.epoch, 0)
    }

    func testAnInterruptedWriteLeavesTheLastGoodCheckpoint() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let good = try Data(contentsOf: checkpoints.lastURL)
        // A write that fails midway (the target's directory vanished for the temporary
        // file) must leave the old file untouched.
        let checkpoint = try TrainingCheckpoint(trainer)
        XCTAssertThrowsError(try checkpoint.write(to: directory.appendingPathComponent("gone/last.ckpt")))
        XCTAssertEqual(try Data(contentsOf: checkpoints.lastURL), good)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])

        // A write killed midway leaves a temporary file, which the next run removes.
        let stale = directory.appendingPathComponent(".last.ckpt.0A1B.tmp")
        FileManager.default.createFile(atPath: stale.path, contents: Data(good.prefix(100)))
        let (next, _) = makeTrainer(directory: directory)
        try next.fit(train, epochs: 1, validation: validation)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
    }

    /// The checksum covers the header: progress edited in place (same length, so the file
    /// still parses) is refused, as flipped tensor bytes are.
    func testAnEditedHeaderFailsItsChecksum() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 2, validation: validation)
        var bytes = try Data(contentsOf: checkpoints.lastURL)
        let field = Data(#"\"epoch\":2"#.utf8)
        let range = try XCTUnwrap(bytes.range(of: field))
        bytes.replaceSubrange(range, with: Data(#"\"epoch\":1"#.utf8))
        let url = directory.appendingPathComponent("edited.ckpt")
        try bytes.write(to: url)
        XCTAssertThrowsError(try TrainingCheckpoint(contentsOf: url)) {
            XCTAssertEqual("\($0)", "checkpoint \(url.path): corrupt: the header or the tensor data does not match its checksum")
        }
    }

    /// Files of the first format, whose checksum covers the tensor data only, still load.
    func testFormatOneCheckpointsStillLoad() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let (tensors, metadata) = try SafeTensors.read(contentsOf: checkpoints.lastURL)
        var old = metadata
        old["format"] = "ember-training-checkpoint-1"
        old["crc32"] = "00000000"
        var bytes = try SafeTensors.encode(tensors, metadata: old)
        let headerEnd = 8 + Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let crc = String(bytes[headerEnd...].withUnsafeBytes { Compression.crc32($0) }, radix: 16)
        let digits = String(repeating: "0", count: 8 - crc.count) + crc
        bytes.replaceSubrange(try XCTUnwrap(bytes.range(of: Data(#""crc32":"00000000""#.utf8))), with: Data(#""crc32":"\#(digits)""#.utf8))
        let url = directory.appendingPathComponent("old.ckpt")
        try bytes.write(to: url)
        XCTAssertEqual(try TrainingCheckpoint(contentsOf: url).progress.epoch, 1)
    }

    /// Counts no run can have written are refused when the file is read (with a valid
    /// checksum: the values were written through the API), and a position past the data's
    /// batches or a schedule's end when it is restored, before anything changes.
    func testImpossibleProgressIsRefusedNamingTheField() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let good = try TrainingCheckpoint(contentsOf: checkpoints.lastURL)
        let url = directory.appendingPathComponent("edited.ckpt")
        func refusal(_ edit: (inout TrainingCheckpoint.Progress) -> Void) throws -> String {
            var checkpoint = good
            edit(&checkpoint.progress)
            try checkpoint.write(to: url)
            do {
                _ = try TrainingCheckpoint(contentsOf: url)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(try refusal { $0.epoch = -1 }, "checkpoint \(url.path), progress.epoch: -1 is negative; counts start at 0")
        XCTAssertEqual(try refusal { $0.batchInEpoch = -5 }, "checkpoint \(url.path), progress.batchInEpoch: -5 is negative; counts start at 0")

        var far = good
        far.progress.batchInEpoch = 50
        far.progress.globalStep = 57
        let (fresh, _) = makeTrainer(directory: try temporaryDirectory())
        XCTAssertThrowsError(try far.restore(into: fresh, batchesPerEpoch: train.batchesPerEpoch, source: "far.ckpt")) {
            XCTAssertEqual("\($0)", "checkpoint far.ckpt, progress.batchInEpoch: 50 batches of the epoch are done, but the data has 7 per epoch: "
                           + "resume on the data the run was trained on")
        }
        var late = good
        late.progress.callbacks["lr_scheduler"] = #"{"lastEpoch": 1000000, "baseLRs": [0.01]}"#
        let oneCycle = LRScheduler(fresh.optimizer, schedule: OneCycleLR(maxLR: 0.1, totalSteps: 14))
        fresh.callbacks = [LearningRateScheduler(oneCycle, interval: .step)]
        XCTAssertThrowsError(try late.restore(into: fresh, source: "late.ckpt")) {
            XCTAssertEqual("\($0)", "checkpoint late.ckpt, progress.callbacks.lr_scheduler: does not fit this run: "
                           + "LRScheduler.loadStateDict: the state has taken 1000000 steps, more than the 14 the schedule has")
        }
        late.progress.callbacks["lr_scheduler"] = #"{"lastEpoch": "x"}"#
        XCTAssertThrowsError(try late.restore(into: fresh, source: "late.ckpt")) {
            XCTAssertFalse("\($0)".contains("DecodingError"), "\($0)")
            XCTAssertTrue("\($0)".contains("progress.callbacks.lr_scheduler.lastEpoch: expected a whole number"), "\($0)")
        }
        XCTAssertEqual(fresh.epoch, 0)
    }

    /// A checkpoint refused by its last callback leaves the trainer as it was: the callbacks
    /// restored before it are put back, and the model and optimizer are untouched.
    func testRefusalPartWayThroughTheCallbacksChangesNothing() throws {
        let (trained, checkpoints) = makeTrainer(directory: try temporaryDirectory())
        try trained.fit(train, epochs: 2, validation: validation)
        var checkpoint = try TrainingCheckpoint(contentsOf: checkpoints.lastURL)
        checkpoint.progress.callbacks["model_checkpoint"] = #"{"best": "x"}"#

        let (fresh, _) = makeTrainer(directory: try temporaryDirectory())
        func callbackStates() throws -> [String] {
            try fresh.callbacks.compactMap { try ($0 as? any StatefulCallback)?.savedState() }.map { String(decoding: $0, as: UTF8.self) }
        }
        let (statesBefore, weightsBefore) = (try callbackStates(), fresh.model.stateDict().mapValues { $0.floats })
        XCTAssertThrowsError(try checkpoint.restore(into: fresh, source: "edited.ckpt")) {
            XCTAssertTrue("\($0)".hasPrefix("checkpoint edited.ckpt, progress.callbacks.model_checkpoint.best:"), "\($0)")
        }
        XCTAssertEqual(try callbackStates(), statesBefore)
        XCTAssertEqual(fresh.model.stateDict().mapValues { $0.floats }, weightsBefore)
        XCTAssertTrue(fresh.optimizer.stateDict().tensors.isEmpty)
        XCTAssertEqual(fresh.epoch, 0)
    }
}
