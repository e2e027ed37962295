import XCTest
@testable import Ember
@testable import EmberNN

/// The loss functions: values and gradients against PyTorch (Fixtures/generate_losses.py)
/// in float64 and float32, for every reduction and the options that change the formula;
/// float64 finite differences; the edge cases (every target ignored, empty batch,
/// saturated probabilities, huge logits); the loss objects; the argument checks.
final class LossTests: XCTestCase {
    static let reductions: [(String, LossReduction)] = [("mean", .mean), ("sum", .sum), ("none", .none)]

    /// Checks the cases `prefix_mean`, `prefix_sum` and `prefix_none` of `fixtures`.
    func checkReductions(_ fixtures: Fixtures, _ prefix: String, inputs count: Int,
                         file: StaticString = #filePath, line: UInt = #line,
                         _ f: @escaping ([Tensor], LossReduction) -> Tensor) {
        for (suffix, reduction) in Self.reductions {
            XCTAssert(fixtures.has("\(prefix)_\(suffix)"), "missing fixture \(prefix)_\(suffix)", file: file, line: line)
            fixtures.checkCase("\(prefix)_\(suffix)", inputs: count, file: file, line: line) { f($0.map { $0! }, reduction) }
        }
    }

    func testCrossEntropyWithClassIndicesAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        // Case prefix, ignore index, label smoothing (labels and weights come from the fixture).
        let options: [(String, Int, Double)] = [
            ("ce", -100, 0), ("ce_weight", -100, 0), ("ce_ignore", -100, 0), ("ce_ignore_class", 2, 0),
            ("ce_smooth", -100, 0.1), ("ce_smooth_ignore", -100, 0.25), ("ce_smooth_weight_ignore", -100, 0.25),
            ("ce_spatial", -100, 0.2), ("ce_single", -100, 0),
        ]
        for (prefix, ignoreIndex, smoothing) in options {
            let name = "\(prefix)_mean"
            let labels = fixtures.tensor(name, "labels")
            let weight = fixtures.has(name, "weight") ? fixtures.tensor(name, "weight") : nil
            checkReductions(fixtures, prefix, inputs: 1) { x, reduction in
                crossEntropy(logits: x[0], labels: labels, weight: weight, ignoreIndex: ignoreIndex,
                             labelSmoothing: smoothing, reduction: reduction)
            }
            // int32 labels give the same result.
            let x = fixtures.tensor(name, "x0").cast(to: .float64)
            assertClose(crossEntropy(logits: x, labels: labels.cast(to: .int32), weight: weight, ignoreIndex: ignoreIndex,
                                     labelSmoothing: smoothing),
                        fixtures.tensor(name, "y"), atol: 1e-12, rtol: 1e-12, "\(prefix) with int32 labels")
        }
        // Logits in the hundreds: logSoftmax subtracts the maximum first.
        fixtures.checkCase("ce_large", inputs: 1) { crossEntropy(logits: $0[0]!, labels: fixtures.tensor("ce_large", "labels")) }
    }

    /// PyTorch's mean over no target is 0/0 = nan, with a zero gradient; the sum is 0. An
    /// empty batch behaves the same way.
    func testCrossEntropyWithNoTargets() throws {
        let fixtures = try Fixtures("losses")
        for (name, reduction) in [("ce_all_ignored_mean", LossReduction.mean), ("ce_all_ignored_sum", .sum),
                                  ("ce_empty_mean", .mean), ("ce_empty_sum", .sum)] {
            fixtures.checkCase(name, inputs: 1) { crossEntropy(logits: $0[0]!, labels: fixtures.tensor(name, "labels"), reduction: reduction) }
        }
        XCTAssert(crossEntropy(logits: Tensor.zeros([4, 3]), labels: Tensor(Array(repeating: -100, count: 4) as [Int64])).item().isNaN)
        let none = crossEntropy(logits: Tensor.zeros([0, 3]), labels: Tensor.zeros([0], dtype: .int64), reduction: .none)
        XCTAssertEqual(none.shape, [0])
    }

    func testCrossEntropyWithClassProbabilitiesAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        checkReductions(fixtures, "ce_probs", inputs: 2) { crossEntropy(logits: $0[0], labels: $0[1], reduction: $1) }
        let weight = fixtures.tensor("ce_probs_weight_smooth_mean", "weight")
        checkReductions(fixtures, "ce_probs_weight_smooth", inputs: 2) {
            crossEntropy(logits: $0[0], labels: $0[1], weight: weight, labelSmoothing: 0.3, reduction: $1)
        }
        let spatialWeight = fixtures.tensor("ce_probs_spatial_mean", "weight")
        checkReductions(fixtures, "ce_probs_spatial", inputs: 2) {
            crossEntropy(logits: $0[0], labels: $0[1], weight: spatialWeight, reduction: $1)
        }
    }

    func testNLLLossAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        for prefix in ["nll", "nll_weight_ignore", "nll_spatial"] {
            let labels = fixtures.tensor("\(prefix)_mean", "labels")
            let weight = fixtures.has("\(prefix)_mean", "weight") ? fixtures.tensor("\(prefix)_mean", "weight") : nil
            checkReductions(fixtures, prefix, inputs: 1) {
                nllLoss(logProbabilities: $0[0], labels: labels, weight: weight, reduction: $1)
            }
        }
        // Cross-entropy is the NLL of the log-softmax.
        let x = randomDoubles([5, 4], seed: 1), labels = Tensor([3, 0, 1, 1, 2] as [Int64])
        assertClose(crossEntropy(logits: x, labels: labels), nllLoss(logProbabilities: x.logSoftmax(axis: 1), labels: labels),
                    atol: 1e-14, rtol: 1e-14)
    }

    func testRegressionLossesAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        checkReductions(fixtures, "mse", inputs: 2) { mseLoss(predictions: $0[0], targets: $0[1], reduction: $1) }
        checkReductions(fixtures, "l1", inputs: 2) { l1Loss(predictions: $0[0], targets: $0[1], reduction: $1) }
        checkReductions(fixtures, "smooth_l1", inputs: 2) { smoothL1Loss(predictions: $0[0], targets: $0[1], reduction: $1) }
        checkReductions(fixtures, "smooth_l1_beta", inputs: 2) { smoothL1Loss(predictions: $0[0], targets: $0[1], beta: 0.5, reduction: $1) }
        fixtures.checkCase("smooth_l1_beta0", inputs: 2) { smoothL1Loss(predictions: $0[0]!, targets: $0[1]!, beta: 0) }
        checkReductions(fixtures, "huber", inputs: 2) { huberLoss(predictions: $0[0], targets: $0[1], reduction: $1) }
        checkReductions(fixtures, "huber_delta", inputs: 2) { huberLoss(predictions: $0[0], targets: $0[1], delta: 0.5, reduction: $1) }
    }

    func testBinaryCrossEntropyAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        checkReductions(fixtures, "bce", inputs: 2) { binaryCrossEntropy(probabilities: $0[0], targets: $0[1], reduction: $1) }
        let weight = fixtures.tensor("bce_weight_mean", "weight")
        checkReductions(fixtures, "bce_weight", inputs: 2) {
            binaryCrossEntropy(probabilities: $0[0], targets: $0[1], weight: weight, reduction: $1)
        }
    }

    /// Probabilities of exactly 0 and 1 (and below e^-100): the logarithms are clamped at
    /// -100 as PyTorch's, and the gradient is the clamped formula's, finite everywhere:
    /// d/dx = -y/x + (1 - y)/(1 - x), each term 0 where its logarithm is clamped.
    func testBinaryCrossEntropySaturated() throws {
        let fixtures = try Fixtures("losses")
        let x = fixtures.tensor("bce_saturated", "x0").requiringGrad(), y = fixtures.tensor("bce_saturated", "x1")
        let loss = binaryCrossEntropy(probabilities: x, targets: y, reduction: .none)
        assertClose(loss, fixtures.tensor("bce_saturated", "y"), atol: 1e-12, rtol: 1e-12)
        loss.sum().backward()
        // x = [0, 0, 1, 1, 0.5, 1e-50], y = [0, 1, 0, 1, 1, 1]
        assertClose(x.grad!, [1, 0, 0, -1, -2, 0], atol: 1e-12, rtol: 1e-12)
    }

    func testBinaryCrossEntropyWithLogitsAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        checkReductions(fixtures, "bce_logits", inputs: 2) { binaryCrossEntropyWithLogits(logits: $0[0], targets: $0[1], reduction: $1) }
        let weight = fixtures.tensor("bce_logits_weights_mean", "weight"), posWeight = fixtures.tensor("bce_logits_weights_mean", "pos_weight")
        checkReductions(fixtures, "bce_logits_weights", inputs: 2) {
            binaryCrossEntropyWithLogits(logits: $0[0], targets: $0[1], weight: weight, posWeight: posWeight, reduction: $1)
        }
        // Logits of ±200 (e^200 overflows float32) and exactly 0.
        fixtures.checkCase("bce_logits_extreme", inputs: 2) {
            binaryCrossEntropyWithLogits(logits: $0[0]!, targets: $0[1]!, posWeight: fixtures.tensor("bce_logits_extreme", "pos_weight"),
                                         reduction: .none)
        }
        // With logits, the loss is the BCE of the sigmoid.
        let logits = randomDoubles([3, 4], seed: 2), targets = randomDoubles([3, 4], seed: 3).sigmoid()
        assertClose(binaryCrossEntropyWithLogits(logits: logits, targets: targets),
                    binaryCrossEntropy(probabilities: logits.sigmoid(), targets: targets), atol: 1e-12, rtol: 1e-12)
    }

    func testKLDivergenceAgainstPyTorch() throws {
        let fixtures = try Fixtures("losses")
        let targets = fixtures.tensor("kl_mean", "targets")
        checkReductions(fixtures, "kl", inputs: 1) { klDivergence(logProbabilities: $0[0], targets: targets, reduction: $1) }
        checkReductions(fixtures, "kl_log_target", inputs: 2) {
            klDivergence(logProbabilities: $0[0], targets: $0[1], logTargets: true, reduction: $1)
        }
    }

    /// Every loss's gradients against central finite differences in float64, with the
    /// options that change the formula. Inputs stay away from the kinks of |d|.
    func testGradientsAgainstFiniteDifferences() {
        let logits = randomDoubles([4, 3, 2], seed: 10)
        let labels = Tensor([0, 2, -100, 1, 1, 2, 0, 0] as [Int64], shape: [4, 2])
        let classLabels = Tensor([0, 2, 2, 1, 1, 2, 0, 0] as [Int64], shape: [4, 2])
        let weight = Tensor([0.5, 2, 1.25] as [Double])
        let probabilities = randomDoubles([4, 3, 2], seed: 11).softmax(axis: 1)
        let x = randomDoubles([3, 4], seed: 12), y = randomDoubles([3, 4], seed: 13)
        let p = randomDoubles([3, 4], seed: 14).sigmoid(), t = randomDoubles([3, 4], seed: 15).sigmoid()
        let rowWeight = Tensor([0.5, 1, 2] as [Double], shape: [3, 1]), posWeight = Tensor([0.5, 1, 2, 3] as [Double])
        // Each check reports failures at its own line.
        func check(_ inputs: [Tensor], line: UInt = #line, _ f: @escaping ([Tensor]) -> Tensor) {
            checkGradients(f, inputs, line: line)
        }
        check([logits]) { crossEntropy(logits: $0[0], labels: labels, weight: weight, labelSmoothing: 0.2) }
        check([logits]) { crossEntropy(logits: $0[0], labels: classLabels, ignoreIndex: 2, reduction: .sum) }
        check([logits, probabilities]) { crossEntropy(logits: $0[0], labels: $0[1], weight: weight, labelSmoothing: 0.1) }
        check([logits]) { nllLoss(logProbabilities: $0[0], labels: labels, weight: weight) }
        check([x, y]) { mseLoss(predictions: $0[0], targets: $0[1]) }
        check([x, y]) { l1Loss(predictions: $0[0], targets: $0[1], reduction: .sum) }
        check([x, y]) { smoothL1Loss(predictions: $0[0], targets: $0[1], beta: 0.7) }
        check([x, y]) { huberLoss(predictions: $0[0], targets: $0[1], delta: 0.7) }
        check([p, t]) { binaryCrossEntropy(probabilities: $0[0], targets: $0[1], weight: rowWeight) }
        check([x, t]) { binaryCrossEntropyWithLogits(logits: $0[0], targets: $0[1], weight: rowWeight, posWeight: posWeight) }
        check([x.logSoftmax(axis: 1), t]) { klDivergence(logProbabilities: $0[0], targets: $0[1]) }
        check([x, y]) { klDivergence(logProbabilities: $0[0], targets: $0[1], logTargets: true, reduction: .sum) }
    }

    /// The losses are composites of primitives: they trace, and the graph replays to the
    /// eager value.
    func testCrossEntropyTracesAndReplays() {
        let logits = randomDoubles([3, 4], seed: 20).cast(to: .float32), labels = Tensor([1, -100, 3] as [Int64])
        let graph = trace(like: [logits, labels]) { xs in
            [crossEntropy(logits: xs[0], labels: xs[1], labelSmoothing: 0.1)]
        }
        assertClose(graph([logits, labels])[0], crossEntropy(logits: logits, labels: labels, labelSmoothing: 0.1))
    }

    /// Each loss object calls its function with its options.
    func testLossObjects() {
        let logits = randomDoubles([4, 3], seed: 30), labels = Tensor([2, 0, -100, 1] as [Int64])
        let weight = Tensor([1, 2, 3] as [Double])
        let x = randomDoubles([4, 3], seed: 31), y = randomDoubles([4, 3], seed: 32).sigmoid()
        let pairs: [(any Loss, Tensor, Tensor, Tensor)] = [
            (CrossEntropyLoss(weight: weight, labelSmoothing: 0.1, reduction: .sum), logits, labels,
             crossEntropy(logits: logits, labels: labels, weight: weight, labelSmoothing: 0.1, reduction: .sum)),
            (NLLLoss(ignoreIndex: 0, reduction: .none), logits, labels.abs().clamp(max: 2),
             nllLoss(logProbabilities: logits, labels: labels.abs().clamp(max: 2), ignoreIndex: 0, reduction: .none)),
            (MSELoss(), x, y, mseLoss(predictions: x, targets: y)),
            (L1Loss(reduction: .sum), x, y, l1Loss(predictions: x, targets: y, reduction: .sum)),
            (SmoothL1Loss(beta: 0.3), x, y, smoothL1Loss(predictions: x, targets: y, beta: 0.3)),
            (HuberLoss(delta: 0.3, reduction: .none), x, y, huberLoss(predictions: x, targets: y, delta: 0.3, reduction: .none)),
            (BCELoss(weight: weight), y, y.square(), binaryCrossEntropy(probabilities: y, targets: y.square(), weight: weight)),
            (BCEWithLogitsLoss(posWeight: weight), x, y, binaryCrossEntropyWithLogits(logits: x, targets: y, posWeight: weight)),
            (KLDivLoss(logTargets: true), x, y, klDivergence(logProbabilities: x, targets: y, logTargets: true)),
        ]
        for (loss, predictions, targets, expected) in pairs {
            assertClose(loss(predictions, targets), expected, atol: 0, rtol: 0, "\(type(of: loss))")
        }
    }

    /// Bad arguments are stopped with a message naming the function, what was given and
    /// what was expected.
    func testArgumentChecks() {
        func assertMessage(_ check: () throws(ShapeError) -> Void, mentions fragments: [String],
                           file: StaticString = #filePath, line: UInt = #line) {
            do {
                try check()
                XCTFail("no error", file: file, line: line)
            } catch {
                for fragment in fragments {
                    XCTAssert(error.message.contains(fragment), "\"\(error.message)\" does not mention \(fragment)", file: file, line: line)
                }
            }
        }
        let logits = Tensor.zeros([6, 5])
        let names = ("logits", "labels")
        assertMessage({ () throws(ShapeError) in
            try ClassTargets.checkIndicesOrProbabilities("crossEntropy", scores: logits, labels: Tensor.zeros([5], dtype: .int64), names: names)
        }, mentions: ["crossEntropy", "labels of shape [5]", "logits of shape [6, 5]", "class indices of shape [6]"])
        assertMessage({ () throws(ShapeError) in
            try ClassTargets.checkIndicesOrProbabilities("crossEntropy", scores: logits, labels: Tensor.zeros([6]), names: names)
        }, mentions: ["crossEntropy", "float32 labels of shape [6]", "class probabilities of shape [6, 5]", "int64 class indices of shape [6]"])
        assertMessage({ () throws(ShapeError) in
            try ClassTargets.checkIndices("nllLoss", scores: logits, labels: Tensor.zeros([6], dtype: .bool), names: names)
        }, mentions: ["nllLoss", "int64 or int32", "bool"])
        assertMessage({ () throws(ShapeError) in
            try ClassTargets.checkIndices("nllLoss", scores: Tensor.zeros([2, 3, 4, 5]), labels: Tensor.zeros([2, 3, 5], dtype: .int64),
                                          names: names)
        }, mentions: ["[2, 3, 5]", "[2, 3, 4, 5]", "expected class indices of shape [2, 4, 5]"])
        assertMessage({ () throws(ShapeError) in
            try ClassTargets.checkIndices("nllLoss", scores: Tensor.zeros([6, 5], dtype: .int64), labels: Tensor.zeros([6], dtype: .int64),
                                          names: names)
        }, mentions: ["nllLoss", "logits", "floating-point", "int64"])
        assertMessage({ () throws(ShapeError) in try ClassTargets.checkClassWeight("crossEntropy", Tensor.ones([4]), classes: 5) },
                      mentions: ["crossEntropy", "weight of shape [4]", "[5]"])
        assertMessage({ () throws(ShapeError) in
            try checkPaired("mseLoss", predictions: Tensor.zeros([3, 4]), targets: Tensor.zeros([4]))
        }, mentions: ["mseLoss", "targets of shape [4]", "[3, 4]"])
        assertMessage({ () throws(ShapeError) in
            try checkPaired("l1Loss", predictions: Tensor.zeros([3]), targets: Tensor.zeros([3], dtype: .int64))
        }, mentions: ["l1Loss", "targets", "floating-point", "int64"])
        assertMessage({ () throws(ShapeError) in
            try checkBroadcastWeight("binaryCrossEntropyWithLogits", "posWeight", Tensor.ones([3]), to: [2, 4])
        }, mentions: ["binaryCrossEntropyWithLogits", "posWeight of shape [3]", "[2, 4]"])
    }
}
