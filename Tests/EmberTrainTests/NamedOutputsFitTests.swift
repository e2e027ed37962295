import Ember
import EmberData
import EmberNN
import EmberOptim
@testable import EmberTrain
import XCTest

/// `fit`, `evaluate` and `predictOutputs` on a functional model with two named inputs and two
/// named outputs (Keras's multi-input, multi-output example: a ticket's title and body give
/// its priority, a regression, and its department, a classification).
final class NamedOutputsFitTests: XCTestCase {
    private func ticketModel(seed: UInt64) -> FunctionalModel {
        manualSeed(seed)
        let title = Input(shape: [4], name: "title")
        let body = Input(shape: [6], name: "body")
        let features = Concatenate()([Dense(8, activation: .relu)(title), Dense(8, activation: .relu)(body)])
        let priority = Dense(1)(features, name: "priority")
        let department = Dense(3)(features, name: "department")
        return FunctionalModel(inputs: [title, body], outputs: [priority, department], name: "tickets")
    }

    /// The department is the sign pattern of the title's first two features, the priority a
    /// linear function of the body.
    private func tickets(count: Int, seed: UInt64) -> NamedTensorDataset {
        let title = Tensor.randomNormal([count, 4], source: .key(Key(seed)))
        let body = Tensor.randomNormal([count, 6], source: .key(Key(seed + 1)))
        let t = title.scalars(as: Float.self)
        let department = Tensor((0..<count).map { Int64(t[4 * $0] > 0 ? (t[4 * $0 + 1] > 0 ? 0 : 1) : 2) }, shape: [count])
        let priority = body.matmul(Tensor([0.5, -1, 0.25, 2, 0, 1] as [Float], shape: [6, 1]))
        return NamedTensorDataset(inputs: ["title": title, "body": body], targets: ["priority": priority, "department": department])
    }

    private let losses: [String: any Loss] = ["priority": MSELoss(), "department": CrossEntropyLoss()]
    private let weights = ["priority": 1.0, "department": 0.2]

    func testFitTrainsBothOutputsAndLogsEachByName() throws {
        let model = ticketModel(seed: 1)
        let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 0.01), losses: losses, lossWeights: weights,
                              metrics: ["department": [Accuracy()]])
        let train = DataLoader(tickets(count: 256, seed: 10), batchSize: 32, shuffle: true, seed: 3)
        let validation = DataLoader(tickets(count: 128, seed: 20), batchSize: 64)
        let history = try trainer.fit(train, epochs: 12, validation: validation)
        for key in ["loss", "priority_loss", "department_loss", "department_accuracy",
                    "val_loss", "val_priority_loss", "val_department_loss", "val_department_accuracy"] {
            XCTAssertNotNil(history[key], "the history lacks \(key); it has \(history.values.keys.sorted())")
        }
        XCTAssertLessThan(history["val_priority_loss"]!.last!, 0.25 * history["val_priority_loss"]!.first!)
        XCTAssertGreaterThan(history["val_department_accuracy"]!.last!, 0.85)
        // The total is the weighted sum of the outputs' losses.
        let logs = trainer.evaluate(validation)
        XCTAssertEqual(logs["loss"]!, logs["priority_loss"]! + 0.2 * logs["department_loss"]!, accuracy: 1e-5)

        let predictions = trainer.predictOutputs(validation)
        XCTAssertEqual(predictions["priority"]?.shape, [128, 1])
        XCTAssertEqual(predictions["department"]?.shape, [128, 3])
    }

    /// One step of `fit` equals one step of a hand-written loop on the weighted sum.
    func testOneStepEqualsTheHandWrittenWeightedLoss() throws {
        let data = tickets(count: 16, seed: 30)
        let fitted = ticketModel(seed: 2)
        try Trainer(model: fitted, optimizer: SGD(fitted.parameters(), lr: 0.1), losses: losses, lossWeights: weights)
            .fit(DataLoader(data, batchSize: 16), epochs: 1)

        let looped = ticketModel(seed: 2)
        let optimizer = SGD(looped.parameters(), lr: 0.1)
        let outputs = looped(["title": data.inputs["title"]!, "body": data.inputs["body"]!])
        let loss = mseLoss(predictions: outputs["priority"]!, targets: data.targets["priority"]!)
            + 0.2 * crossEntropy(logits: outputs["department"]!, labels: data.targets["department"]!)
        loss.backward()
        optimizer.step()

        for ((name, a), (_, b)) in zip(fitted.namedParameters(), looped.namedParameters()) {
            let difference = zip(a.scalars(as: Float.self), b.scalars(as: Float.self)).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(difference, 1e-6, name)
        }
    }

    /// An output without a loss is not trained on, and a single-output functional model takes
    /// an unnamed batch.
    func testOutputsWithoutALossAndUnnamedBatches() throws {
        let model = ticketModel(seed: 4)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.05), losses: ["priority": MSELoss()],
                              metrics: ["department": [Accuracy()]])
        let history = try trainer.fit(DataLoader(tickets(count: 64, seed: 40), batchSize: 32), epochs: 1)
        XCTAssertEqual(Set(history.values.keys), ["loss", "department_accuracy", "lr", "seconds"])
        XCTAssertNil(model.namedParameters().first { $0.0.hasPrefix("department.") }?.1.grad, "the untrained output got a gradient")

        let input = Input(shape: [2])
        let single = FunctionalModel(inputs: [input], outputs: [Dense(4)(input, name: "class")])
        let (x, y) = blobs(count: 64, seed: 5)
        let singleHistory = try Trainer(model: single, optimizer: Adam(single.parameters(), lr: 0.05), losses: ["class": CrossEntropyLoss()],
                                  metrics: ["class": [Accuracy()]])
            .fit(InMemoryBatches(inputs: x, targets: y, batchSize: 16), epochs: 5)
        XCTAssertGreaterThan(singleHistory["class_accuracy"]!.last!, 0.9)
    }

    /// A checkpoint taken in the middle of an epoch keeps each output's running loss.
    func testMidEpochCheckpointKeepsTheOutputsRunningLosses() throws {
        let data = DataLoader(tickets(count: 64, seed: 50), batchSize: 16)
        func trainer() -> Trainer {
            let model = ticketModel(seed: 6)
            return Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.05), losses: losses, lossWeights: weights)
        }
        let first = trainer()
        final class CheckpointAfterTwoBatches: Callback {
            var checkpoint: TrainingCheckpoint?
            func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
                if batch == 1 { checkpoint = try TrainingCheckpoint(trainer) }
            }
        }
        let saver = CheckpointAfterTwoBatches()
        first.callbacks = [saver]
        let uninterrupted = try first.fit(data, epochs: 1).values.mapValues { $0.last! }

        // Kept in memory while training went on: a copy of the state, not a view of it.
        let resumed = trainer()
        try saver.checkpoint!.restore(into: resumed)
        let logs = try resumed.fit(data, epochs: 1).values.mapValues { $0.last! }
        for key in ["loss", "priority_loss", "department_loss"] {
            XCTAssertEqual(logs[key]!, uninterrupted[key]!, accuracy: 1e-9, key)
        }
    }
}
