import XCTest
@testable import Ember
@testable import EmberNN

/// Accuracy, top-k accuracy, the running mean and the confusion matrix: hand-computed
/// examples, and 40 random samples against NumPy (Fixtures/generate_losses.py, case
/// "metrics", which has a row of tied scores).
final class MetricTests: XCTestCase {
    // Scores of 4 samples over 3 classes. Sample 1 ties classes 0 and 2 at the top.
    let logits = Tensor([[2.0, 1.0, 0.5], [1.0, 0.0, 1.0], [0.1, 0.3, 0.2], [3.0, -1.0, 4.0]] as [[Double]])
    let labels = Tensor([0, 2, 0, 1] as [Int64])

    func testAccuracyByHand() {
        // Predictions (argmax, the first maximum on ties): 0, 0, 1, 2; right: sample 0 only.
        assertClose(accuracy(logits: logits, labels: labels), [0.25])
        XCTAssertEqual(accuracy(logits: logits, labels: labels).dtype, .float32)
        // Top 2: sample 1's label ties for first, sample 2's (0) scores lowest; sample 3's (1) too.
        assertClose(topKAccuracy(logits: logits, labels: labels, k: 2), [0.5])
        assertClose(topKAccuracy(logits: logits, labels: labels, k: 3), [1])
        // Class probabilities count as their most likely class; int32 labels as int64.
        assertClose(accuracy(logits: logits, labels: labels.oneHot(classes: 3, dtype: .float64) * 0.9), [0.25])
        assertClose(accuracy(logits: logits, labels: labels.cast(to: .int32)), [0.25])
        // One sample without a batch axis; segmentation layout [N, C, H].
        assertClose(accuracy(logits: Tensor([0.1, 0.7, 0.2] as [Float]), labels: Tensor(Int64(1))), [1])
        let spatial = Tensor.stack([logits, logits.flipped(axes: [0])], axis: 2)
        assertClose(accuracy(logits: spatial, labels: Tensor.stack([labels, labels], axis: 1)), [0.25])
        // An empty batch has no accuracy.
        XCTAssert(accuracy(logits: Tensor.zeros([0, 3]), labels: Tensor.zeros([0], dtype: .int64)).item().isNaN)
    }

    func testAgainstNumPy() throws {
        let fixtures = try Fixtures("losses")
        let logits = fixtures.tensor("metrics", "logits"), labels = fixtures.tensor("metrics", "labels")
        let expectedAccuracy = fixtures.tensor("metrics", "accuracy").item(), expectedTop3 = fixtures.tensor("metrics", "top3").item()
        assertClose(accuracy(logits: logits, labels: labels), [expectedAccuracy], atol: 1e-7)
        assertClose(topKAccuracy(logits: logits, labels: labels, k: 3), [expectedTop3], atol: 1e-7)

        // Streamed in uneven batches, the metrics reach the same values.
        let metrics: [any PredictionMetric] = [Accuracy(), TopKAccuracy(k: 3), ConfusionMatrix(classes: 6)]
        for (start, count) in [(0, 7), (7, 20), (27, 13)] {
            for metric in metrics {
                metric.update(predictions: logits.narrow(axis: 0, start: start, count: count),
                              targets: labels.narrow(axis: 0, start: start, count: count))
            }
        }
        XCTAssertEqual(metrics.map(\.name), ["accuracy", "top_3_accuracy", "confusion_matrix"])
        XCTAssertEqual(metrics[0].result, expectedAccuracy, accuracy: 1e-12)
        XCTAssertEqual(metrics[1].result, expectedTop3, accuracy: 1e-12)
        XCTAssertEqual(metrics[2].result, expectedAccuracy, accuracy: 1e-12)
        let confusion = metrics[2] as! ConfusionMatrix
        let expected = fixtures.tensor("metrics", "confusion")
        XCTAssertEqual(confusion.matrix.dtype, .int64)
        assertClose(confusion.matrix, expected, atol: 0, rtol: 0)
        XCTAssertEqual(confusion.counts.flatMap { $0 }.map(Double.init), expected.doubles)

        for metric in metrics { metric.reset() }
        XCTAssert(metrics.allSatisfy { $0.result.isNaN })
        XCTAssertEqual(confusion.counts, Array(repeating: Array(repeating: 0, count: 6), count: 6))
    }

    func testConfusionMatrixByHand() {
        let matrix = ConfusionMatrix(classes: 3)
        // From scores: predictions 0, 0, 1, 2 for labels 0, 2, 0, 1.
        matrix.update(predictions: logits, targets: labels)
        // From predicted indices (int32 is fine): 2 for 2, 2 for 1.
        matrix.update(predictions: Tensor([2, 2] as [Int32]), targets: Tensor([2, 1] as [Int64]))
        XCTAssertEqual(matrix.counts, [[1, 1, 0],
                                       [0, 0, 2],
                                       [1, 0, 1]])
        XCTAssertEqual(matrix.result, 2.0 / 6.0, accuracy: 1e-15)
        // Precision: column-wise; recall: row-wise.
        XCTAssertEqual(matrix.precision, [0.5, 0, 1.0 / 3.0])
        XCTAssertEqual(matrix.recall, [0.5, 0, 0.5])
        // A class never predicted has no precision.
        let unseen = ConfusionMatrix(classes: 2)
        unseen.update(predictions: Tensor([0, 0] as [Int64]), targets: Tensor([0, 1] as [Int64]))
        XCTAssert(unseen.precision[1].isNaN)
        XCTAssertEqual(unseen.recall, [1, 0])
    }

    func testMean() {
        let mean = Mean(name: "loss")
        XCTAssertEqual(mean.name, "loss")
        XCTAssert(mean.result.isNaN)
        mean.update(2)
        mean.update(Tensor([1, 3, 5] as [Float]))
        // (2 + 1 + 3 + 5) / 4
        XCTAssertEqual(mean.result, 2.75, accuracy: 1e-12)
        // Weighted: a row weight broadcasts over the columns. Adds 1·(1 + 2) + 3·(3 + 4) = 24 over weight 8.
        mean.update(Tensor([[1, 2], [3, 4]] as [[Double]]), weights: Tensor([1, 3] as [Double], shape: [2, 1]))
        XCTAssertEqual(mean.result, (11.0 + 24.0) / 12.0, accuracy: 1e-12)
        mean.update(10, weight: 0.5)
        XCTAssertEqual(mean.result, (11.0 + 24.0 + 5.0) / 12.5, accuracy: 1e-12)
        mean.reset()
        mean.update(Tensor([4] as [Float]))
        XCTAssertEqual(mean.result, 4)
    }

    /// Accumulators saved from one metric and restored into a fresh one continue exactly;
    /// accumulators that cannot be the metric's are refused.
    func testAccumulatorsRestoreAndAreChecked() throws {
        let accuracy = Accuracy(), mean = Mean(), matrix = ConfusionMatrix(classes: 3)
        accuracy.update(predictions: logits, targets: labels)
        mean.update(Tensor([1, 2, 4] as [Float]))
        matrix.update(predictions: logits, targets: labels)
        let (accuracy2, mean2, matrix2) = (Accuracy(), Mean(), ConfusionMatrix(classes: 3))
        try accuracy2.restore(accumulators: accuracy.accumulators)
        try mean2.restore(accumulators: mean.accumulators)
        try matrix2.restore(accumulators: matrix.accumulators)
        for metric in [accuracy, accuracy2] as [PredictionMetric] { metric.update(predictions: logits, targets: labels) }
        XCTAssertEqual(accuracy2.result, accuracy.result)
        XCTAssertEqual(accuracy2.accumulators, [2, 8])
        XCTAssertEqual(mean2.result, 7.0 / 3.0)
        XCTAssertEqual(matrix2.counts, matrix.counts)

        XCTAssertThrowsError(try Accuracy().restore(accumulators: [3, 2]))      // more right than seen
        XCTAssertThrowsError(try Accuracy().restore(accumulators: [0.5, 2]))    // not a count
        XCTAssertThrowsError(try Mean().restore(accumulators: [1]))
        XCTAssertThrowsError(try ConfusionMatrix(classes: 2).restore(accumulators: matrix.accumulators)) {
            XCTAssertTrue("\($0)".contains("expected 4 counts, got 9 values"), "\($0)")
        }
    }

    /// Metrics read predictions that require grad without recording anything.
    func testMetricsBuildNoGraph() {
        let scores = logits.requiringGrad()
        let value = accuracy(logits: scores, labels: labels)
        XCTAssertFalse(value.requiresGrad)
        XCTAssertFalse(topKAccuracy(logits: scores, labels: labels, k: 2).requiresGrad)
        let loss = (scores * 2).sum()
        XCTAssert(loss.requiresGrad)
        let mean = Mean()
        mean.update(loss)
        Accuracy().update(predictions: scores, targets: labels)
        XCTAssert(isGradEnabled)
        XCTAssertNil(scores.grad)
    }

    func testArgumentChecks() {
        let matrix = ConfusionMatrix(classes: 3)
        XCTAssertThrowsError(try matrix.checkPredictedIndices(Tensor([1] as [Int64]), Tensor([1, 2] as [Int64]))) { error in
            XCTAssertEqual("\(error)", "ConfusionMatrix: predicted class indices of shape [1] must have the targets' shape [2]")
        }
        XCTAssertThrowsError(try matrix.checkPredictedIndices(Tensor([true]), Tensor([1] as [Int64]))) { error in
            XCTAssert("\(error)".contains("predictions must be int64 or int32 class indices"), "\(error)")
        }
    }
}
