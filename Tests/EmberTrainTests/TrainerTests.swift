import Ember
import EmberNN
import EmberOptim
import Foundation
import XCTest
@testable import EmberTrain

final class TrainerTests: XCTestCase {
    private func makeTrainer(seed: UInt64 = 1, callbacks: [any Callback] = []) -> Trainer {
        let model = blobClassifier(seed: seed)
        return Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1, momentum: 0.9),
                       loss: CrossEntropyLoss(), metrics: [Accuracy()], callbacks: callbacks)
    }

    private let train = { () -> InMemoryBatches in
        let data = blobs(count: 256, seed: 7)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 32, seed: 3)
    }()

    private let validation = { () -> InMemoryBatches in
        let data = blobs(count: 128, seed: 8)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 50)
    }()

    func testFitLearnsAndLogsEveryEpoch() throws {
        let trainer = makeTrainer()
        let history = try trainer.fit(train, epochs: 5, validation: validation)
        XCTAssertEqual(history.epochs, [0, 1, 2, 3, 4])
        XCTAssertEqual(trainer.epoch, 5)
        XCTAssertEqual(trainer.globalStep, 5 * 8)
        for key in ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"] {
            XCTAssertEqual(history[key]?.count, 5, key)
        }
        XCTAssertLessThan(history["loss"]!.last!, history["loss"]!.first!)
        XCTAssertGreaterThan(history["val_accuracy"]!.last!, 0.95)
        XCTAssertEqual(history["lr"]!.last!, 0.1)
        XCTAssertTrue(trainer.model.isTraining, "evaluation must restore training mode")
    }

    func testEvaluateMatchesAHandComputedLossAndAccuracy() throws {
        let trainer = makeTrainer()
        try trainer.fit(train, epochs: 1)
        let logs = trainer.evaluate(validation)
        // The reference: one pass over all 128 samples at once, in eval mode.
        trainer.model.eval()
        let logits = noGrad { trainer.model(validation.inputs) }
        let expectedLoss = crossEntropy(logits: logits, labels: validation.targets).item()
        XCTAssertEqual(logs["loss"]!, expectedLoss, accuracy: 1e-5, "sample-weighted mean over uneven batches")
        XCTAssertEqual(logs["accuracy"]!, accuracy(logits: logits, labels: validation.targets).item(), accuracy: 1e-9)
        XCTAssertEqual(trainer.predict(validation).shape, [128, 4])
        // The free functions, without a trainer, agree.
        let free = evaluate(trainer.model, validation, loss: { crossEntropy(logits: $0, labels: $1) }, metrics: [Accuracy()])
        XCTAssertEqual(free, logs)
        XCTAssertEqual(predict(trainer.model, validation).doubles, trainer.predict(validation).doubles)
    }

    func testCallbacksRunInOrderWithCheckpointsLast() throws {
        final class Recorder: Callback {
            let name: String
            let savingPhase: Bool
            var events: [String]
            init(_ name: String, saving: Bool = false, events: [String] = []) {
                self.name = name
                savingPhase = saving
                self.events = events
            }
            var phase: CallbackPhase { savingPhase ? .saving : .normal }
            func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
                Recorder.log.append("\(name):\(epoch):\(trainer.epoch)")
            }
            nonisolated(unsafe) static var log: [String] = []
        }
        Recorder.log = []
        let trainer = makeTrainer(callbacks: [Recorder("saver", saving: true), Recorder("plain")])
        try trainer.fit(train, epochs: 2)
        // Callbacks see the finished epoch and a trainer that counts it as done.
        XCTAssertEqual(Recorder.log, ["plain:0:1", "saver:0:1", "plain:1:2", "saver:1:2"])
    }

    func testEarlyStoppingStopsAfterPatienceAndRestoresBestWeights() throws {
        let stopper = EarlyStopping(monitor: Monitor("score", mode: .min), patience: 2, restoreBestWeights: true)
        let recorder = WeightRecorder()
        let model = blobClassifier(seed: 1)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss(),
                              metrics: [ScriptedScore([3, 2, 2.5, 2.4, 2.6, 1])], callbacks: [recorder, stopper])
        try trainer.fit(train, epochs: 6)
        XCTAssertEqual(trainer.epoch, 4, "no improvement after epoch 1 for 2 more epochs stops after epoch 3")
        XCTAssertEqual(stopper.bestEpoch, 1)
        XCTAssertEqual(stopper.stoppedEpoch, 3)
        XCTAssertEqual(trainer.model.stateDict()["0.weight"]!.doubles, recorder.weightsAtEpoch[1]!)
        XCTAssertNotEqual(recorder.weightsAtEpoch[1]!, recorder.weightsAtEpoch[3]!)
    }

    func testLearningRateSchedulePerEpochIsLoggedAndStepped() throws {
        let model = blobClassifier(seed: 1)
        let optimizer = SGD(model.parameters(), lr: 0.1)
        let schedule = LearningRateScheduler(LRScheduler(optimizer, schedule: StepLR(stepSize: 1, gamma: 0.5)))
        let trainer = Trainer(model: model, optimizer: optimizer, loss: CrossEntropyLoss(), callbacks: [schedule])
        let history = try trainer.fit(train, epochs: 3)
        XCTAssertEqual(history["lr"]!, [0.1, 0.05, 0.025])
        XCTAssertEqual(optimizer.learningRate, 0.0125)
    }

    func testCSVLoggerWritesOneRowPerEpoch() throws {
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("metrics.csv")
        let logger = CSVLogger(url: url, columns: [CSVLogger.Column("epoch"), CSVLogger.Column("train_loss", key: "loss"),
                                                   CSVLogger.Column("val_accuracy")])
        let trainer = makeTrainer(callbacks: [logger])
        let history = try trainer.fit(train, epochs: 2, validation: validation)
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[0], "epoch,train_loss,val_accuracy")
        let row = lines[2].split(separator: ",")
        XCTAssertEqual(row[0], "2")
        XCTAssertEqual(Double(row[1]), history["loss"]![1], "written so that it reads back exactly")
        XCTAssertEqual(Double(row[2]), history["val_accuracy"]![1])
    }

    func testMonitorGuessesTheDirection() {
        XCTAssertEqual(Monitor("val_loss").mode, .min)
        XCTAssertEqual(Monitor("val_accuracy").mode, .max)
        XCTAssertTrue(Monitor("val_loss", minDelta: 0.1).isImprovement(0.8, over: 1))
        XCTAssertFalse(Monitor("val_loss", minDelta: 0.1).isImprovement(0.95, over: 1))
        XCTAssertFalse(Monitor("val_loss").isImprovement(.nan, over: nil))
    }

    func testAMissingMonitoredValueIsAClearError() {
        let trainer = makeTrainer(callbacks: [EarlyStopping(monitor: Monitor("val_loss"))])
        XCTAssertThrowsError(try trainer.fit(train, epochs: 1)) { error in
            XCTAssertTrue("\(error)".contains("watches 'val_loss', which is not logged"), "\(error)")
        }
    }
}

/// A metric that reports a given value per epoch (it advances on each reset).
final class ScriptedScore: PredictionMetric {
    let name = "score"
    private var values: [Double]
    private var epoch = -1
    init(_ values: [Double]) { self.values = values }
    var result: Double { values[epoch] }
    func reset() { epoch += 1 }
    func update(predictions: Tensor, targets: Tensor) {}
}

/// Remembers the first layer's weights at the end of each epoch.
final class WeightRecorder: Callback {
    var weightsAtEpoch: [Int: [Double]] = [:]

    func epochEnded(_ epoch: Int, logs: [String: Double], trainer: Trainer) throws {
        weightsAtEpoch[epoch] = trainer.model.stateDict()["0.weight"]!.doubles
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
