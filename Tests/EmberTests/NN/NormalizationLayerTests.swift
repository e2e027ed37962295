import XCTest
import Ember
@testable import EmberNN

/// BatchNorm1d/2d, LayerNorm and GroupNorm against the same PyTorch layers with the same
/// (randomized) parameters and running statistics (Fixtures/generate_layers.py): outputs,
/// gradients and the running statistics after the pass, in float64 to 1e-9 and float32.
final class NormalizationLayerTests: XCTestCase {
    func testBatchNormTrainingAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, BatchNorm)] = [
            ("batch_norm2d_train", BatchNorm2d(3, dtype: .float64)),
            ("batch_norm1d_2d", BatchNorm1d(4, momentum: 0.3, dtype: .float64)),
            ("batch_norm1d_3d", BatchNorm1d(3, affine: false, dtype: .float64)),
            // momentum nil: the cumulative average over num_batches_tracked (3 before, 4 after).
            ("batch_norm2d_cumulative", BatchNorm2d(3, epsilon: 1e-3, momentum: nil, dtype: .float64)),
        ]
        for (name, norm) in cases {
            fixtures.checkModule(name, norm, inputs: 1) { norm($0[0]) }
            fixtures.checkBuffersAfter(name, norm)
            XCTAssertEqual(Set(norm.namedBuffers().map(\.0)), ["running_mean", "running_var", "num_batches_tracked"], name)
        }
    }

    func testBatchNormEvaluationAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, BatchNorm)] = [
            ("batch_norm2d_eval", BatchNorm2d(3, dtype: .float64)),
            ("batch_norm1d_eval", BatchNorm1d(3, dtype: .float64)),
            // Without running statistics evaluation normalizes with the batch's.
            ("batch_norm2d_untracked_eval", BatchNorm2d(3, trackRunningStats: false, dtype: .float64)),
        ]
        for (name, norm) in cases {
            norm.eval()
            fixtures.checkModule(name, norm, inputs: 1) { norm($0[0]) }
            fixtures.checkBuffersAfter(name, norm)
        }
    }

    /// float32 statistics over 25 values per channel, amplified by the inverse standard deviation.
    func testBatchNormFloat32AgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let norm = BatchNorm2d(3)
        fixtures.checkModule("batch_norm2d_train", norm, inputs: 1, atol: 1e-4, rtol: 1e-4) { norm($0[0]) }
        fixtures.checkBuffersAfter("batch_norm2d_train", norm, atol: 1e-5)
        XCTAssertEqual(norm.runningMean!.dtype, .float32)
    }

    /// The buffers are updated in place (a state dict taken earlier sees the update), only in
    /// training, and num_batches_tracked counts the batches.
    func testRunningStatisticsUpdateInPlaceOnlyInTraining() {
        let norm = BatchNorm1d(2, momentum: 0.5)
        let state = norm.stateDict()
        let x = Tensor([[1, 10], [3, 30], [5, 20]] as [[Float]])
        _ = norm(x)
        assertClose(state["running_mean"]!, [1.5, 10], atol: 1e-6)
        assertClose(state["running_var"]!, [0.5 + 0.5 * 4, 0.5 + 0.5 * 100], atol: 1e-4)
        XCTAssertEqual(state["num_batches_tracked"]!.item(), 1)
        norm.eval()
        let y = norm(x)
        assertClose(state["running_mean"]!, [1.5, 10], atol: 1e-6, "no update in evaluation")
        XCTAssertEqual(norm.numBatchesTracked!.item(), 1)
        assertClose(y[TensorIndex.all, 0], [-0.5, 1.5, 3.5].map { $0 / (2.5 + 1e-5).squareRoot() }, atol: 1e-5)
    }

    func testBatchNormDefaultsAndStateKeys() {
        let norm = BatchNorm2d(4)
        XCTAssertEqual(norm.stateKeys(), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        XCTAssertEqual(norm.weight!.floats, [1, 1, 1, 1])
        XCTAssertEqual(norm.bias!.floats, [0, 0, 0, 0])
        XCTAssertEqual(norm.runningVar!.floats, [1, 1, 1, 1])
        XCTAssertEqual(norm.numBatchesTracked!.dtype, .int64)
        XCTAssertEqual(norm.numBatchesTracked!.shape, [])
        XCTAssertEqual(BatchNorm1d(3, affine: false, trackRunningStats: false).stateKeys(), [])
        XCTAssertEqual(BatchNorm1d(3, affine: false).stateKeys(), ["running_mean", "running_var", "num_batches_tracked"])
    }

    func testLayerNormAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, LayerNorm)] = [
            ("layer_norm", LayerNorm([4, 5], dtype: .float64)),
            ("layer_norm_no_bias", LayerNorm(6, epsilon: 1e-3, bias: false, dtype: .float64)),
            ("layer_norm_no_affine", LayerNorm(6, elementwiseAffine: false, dtype: .float64)),
        ]
        for (name, norm) in cases {
            fixtures.checkModule(name, norm, inputs: 1) { norm($0[0]) }
        }
        let float32 = LayerNorm([4, 5])
        fixtures.checkModule("layer_norm", float32, inputs: 1, atol: 1e-4, rtol: 1e-4) { float32($0[0]) }
    }

    func testGroupNormAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, GroupNorm)] = [
            ("group_norm", GroupNorm(2, 6, dtype: .float64)),
            ("group_norm_no_affine", GroupNorm(3, 3, epsilon: 1e-3, affine: false, dtype: .float64)),
            ("group_norm_one_group", GroupNorm(1, 4, dtype: .float64)),
        ]
        for (name, norm) in cases {
            fixtures.checkModule(name, norm, inputs: 1) { norm($0[0]) }
        }
        let float32 = GroupNorm(2, 6)
        fixtures.checkModule("group_norm", float32, inputs: 1, atol: 1e-4, rtol: 1e-4) { float32($0[0]) }
    }

    func testNormDefaults() {
        let layer = LayerNorm([2, 3])
        XCTAssertEqual(layer.stateKeys(), ["weight", "bias"])
        XCTAssertEqual(layer.weight!.floats, [Float](repeating: 1, count: 6))
        XCTAssertEqual(layer.bias!.floats, [Float](repeating: 0, count: 6))
        XCTAssertEqual(LayerNorm(4, bias: false).stateKeys(), ["weight"])
        let group = GroupNorm(2, 4)
        XCTAssertEqual(group.weight!.floats, [1, 1, 1, 1])
        XCTAssertEqual(group.bias!.floats, [0, 0, 0, 0])
        XCTAssertEqual(GroupNorm(2, 4, affine: false).stateKeys(), [])
    }
}
