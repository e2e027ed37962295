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
        XCTAssertTrue(refusal(plain).contains("is not an Ember training checkpoint"))
        XCTAssertThrowsError(try TrainingCheckpoint(contentsOf: directory.appendingPathComponent("missing.ckpt"))) {
            XCTAssertTrue("\($0)".contains("does not exist"))
        }
    }

    func testACheckpointOfAnotherModelChangesNothing() throws {
        let directory = try temporaryDirectory()
        let (trainer, checkpoints) = makeTrainer(directory: directory)
        try trainer.fit(train, epochs: 1, validation: validation)
        let checkpoint = try TrainingCheckpoint(contentsOf: checkpoints.lastURL)

        XCTAssertThrowsError(try checkpoint.restore(into: trainer, expectingModel: "resnet")) {
            XCTAssertTrue("\($0)".contains("was saved from model 'blobs', not 'resnet'"), "\($0)")
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
}
