import Ember
import EmberNN
import EmberOptim
import Foundation
import XCTest
@testable import EmberTrain

/// `fit` with a precision: bf16 and fp16 autocast reach float32's accuracy on a small task,
/// fp16 scales its loss, and the scaler's state goes through a training checkpoint.
final class MixedPrecisionTrainingTests: XCTestCase {
    private let train = { () -> InMemoryBatches in
        let data = blobs(count: 400, seed: 21)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 32, seed: 3)
    }()

    private let validation = { () -> InMemoryBatches in
        let data = blobs(count: 200, seed: 22)
        return InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 100)
    }()

    private func trainer(_ precision: Precision, callbacks: [any Callback] = []) -> Trainer {
        let model = blobClassifier(seed: 7)
        return Trainer(model: model, optimizer: Adam(model.parameters(), lr: 0.02), loss: CrossEntropyLoss(), metrics: [Accuracy()],
                       callbacks: callbacks, precision: precision)
    }

    /// Blobs 0.8 apart in noise are about 95% separable; each precision gets within 2 points
    /// of float32's validation accuracy (200 examples: one example is 0.5 points).
    func testMixedPrecisionReachesFloat32Accuracy() throws {
        var accuracies: [Precision: Double] = [:]
        for precision in Precision.allCases {
            let trainer = trainer(precision)
            let history = try trainer.fit(train, epochs: 6, validation: validation)
            accuracies[precision] = history["val_accuracy"]?.last
            XCTAssertEqual(trainer.gradScaler != nil, precision == .fp16, "fp16 scales its loss by default")
            // Parameters stay float32 master copies.
            XCTAssertTrue(trainer.model.parameters().allSatisfy { $0.dtype == .float32 })
        }
        let fp32 = try XCTUnwrap(accuracies[.fp32])
        XCTAssertGreaterThan(fp32, 0.85)
        for precision in [Precision.bf16, .fp16] {
            XCTAssertEqual(try XCTUnwrap(accuracies[precision]), fp32, accuracy: 0.02, "\(precision)")
        }
    }

    func testGradScalerStateGoesThroughACheckpoint() throws {
        let first = trainer(.fp16)
        try first.fit(train, epochs: 1)
        let scaler = try XCTUnwrap(first.gradScaler)
        XCTAssertEqual(scaler.growthTracker, 13, "13 finite steps of 400 / 32 batches")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-scaler-\(UUID().uuidString).ckpt")
        defer { try? FileManager.default.removeItem(at: url) }
        try TrainingCheckpoint(first).write(to: url)
        let second = trainer(.fp16)
        try TrainingCheckpoint(contentsOf: url).restore(into: second)
        XCTAssertEqual(second.gradScaler?.state, scaler.state)
    }
}
