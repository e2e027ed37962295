import XCTest
import Ember
@testable import EmberNN

/// Conv1d, Conv2d and ConvTranspose2d against the same PyTorch layers with the same weights
/// (Fixtures/generate_layers.py): float64 to 1e-9, one float32 check, default initialization.
final class ConvolutionLayerTests: XCTestCase {
    func testConv2dAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, Conv2d)] = [
            ("conv2d", Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1, dtype: .float64)),
            ("conv2d_groups_dilation", Conv2d(4, 6, kernelSize: [3, 2], stride: [1, 2], padding: [2, 1], dilation: [2, 1],
                                              groups: 2, bias: false, dtype: .float64)),
            ("conv2d_valid", Conv2d(2, 3, kernelSize: 3, padding: .valid, dtype: .float64)),
            ("conv2d_unbatched", Conv2d(3, 2, kernelSize: 2, dtype: .float64)),
        ]
        for (name, conv) in cases {
            fixtures.checkModule(name, conv, inputs: 1) { conv($0[0]) }
        }
    }

    /// "same" with an even total padding d·(k-1) on one axis and an odd one on the other:
    /// PyTorch puts the odd row or column at the bottom or right.
    func testSamePaddingAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let even = Conv2d(2, 3, kernelSize: [4, 3], padding: .same, dtype: .float64)
        fixtures.checkModule("conv2d_same_even", even, inputs: 1) { even($0[0]) }
        let dilated = Conv2d(2, 4, kernelSize: [2, 3], padding: .same, dilation: [3, 2], groups: 2, dtype: .float64)
        fixtures.checkModule("conv2d_same_dilated", dilated, inputs: 1) { dilated($0[0]) }
        let conv1d = Conv1d(4, 2, kernelSize: 4, padding: .same, groups: 2, dtype: .float64)
        fixtures.checkModule("conv1d_same_even", conv1d, inputs: 1) { conv1d($0[0]) }
        XCTAssertEqual(conv1d(Tensor.zeros([4, 11], dtype: .float64)).shape, [2, 11], "unbatched input keeps its length")
    }

    func testConv1dAgainstPyTorch() throws {
        let conv = Conv1d(3, 4, kernelSize: 3, stride: 2, padding: 1, dtype: .float64)
        try Fixtures("layers").checkModule("conv1d", conv, inputs: 1) { conv($0[0]) }
    }

    func testConvTranspose2dAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let cases: [(String, ConvTranspose2d)] = [
            ("conv_transpose2d", ConvTranspose2d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, dtype: .float64)),
            ("conv_transpose2d_groups", ConvTranspose2d(4, 6, kernelSize: [3, 2], stride: [2, 3], padding: [1, 0],
                                                        outputPadding: [1, 2], dilation: [2, 1], groups: 2, bias: false,
                                                        dtype: .float64)),
            ("conv_transpose2d_dilated_output_padding", ConvTranspose2d(2, 3, kernelSize: 3, padding: 1, outputPadding: 1,
                                                                        dilation: 2, dtype: .float64)),
        ]
        for (name, conv) in cases {
            fixtures.checkModule(name, conv, inputs: 1) { conv($0[0]) }
        }
    }

    /// oneDNN in float32 against the float64 reference: float32 rounding of sums of a few
    /// dozen products of order one.
    func testFloat32AgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let conv = Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1)
        fixtures.checkModule("conv2d", conv, inputs: 1, atol: 1e-4, rtol: 1e-4) { conv($0[0]) }
        let transposed = ConvTranspose2d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1)
        fixtures.checkModule("conv_transpose2d", transposed, inputs: 1, atol: 1e-4, rtol: 1e-4) { transposed($0[0]) }
    }

    /// PyTorch's default: weight and bias uniform in ±1/√fanIn, fanIn = weight axis 1 × kernel
    /// (for the transposed layer that is outChannels/groups). Loose bounds on large samples.
    func testDefaultInitializationMatchesPyTorchInDistribution() {
        manualSeed(7)
        let layers: [(Module, Double)] = [
            (Conv2d(64, 96, kernelSize: 3, groups: 2), 1 / (32.0 * 9).squareRoot()),
            (Conv1d(40, 300, kernelSize: 5), 1 / 200.0.squareRoot()),
            (ConvTranspose2d(16, 64, kernelSize: 4), 1 / 32.0),
        ]
        for (layer, bound) in layers {
            let weight = layer.namedParameters()[0].1.doubles, bias = layer.namedParameters()[1].1.doubles
            let mean = weight.reduce(0, +) / Double(weight.count)
            let std = (weight.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(weight.count)).squareRoot()
            XCTAssertLessThanOrEqual(weight.map(Swift.abs).max()!, bound, "\(layer.typeName)")
            XCTAssertEqual(weight.map(Swift.abs).max()!, bound, accuracy: bound * 0.01, "\(layer.typeName)")
            XCTAssertEqual(std, bound / 3.0.squareRoot(), accuracy: bound * 0.02, "\(layer.typeName)")
            XCTAssertEqual(mean, 0, accuracy: bound * 0.02, "\(layer.typeName)")
            XCTAssertLessThanOrEqual(bias.map(Swift.abs).max()!, bound, "\(layer.typeName)")
        }
    }

    func testShapesAndStateKeys() {
        let conv = Conv2d(3, 8, kernelSize: [3, 5], stride: 2, padding: [1, 2], groups: 1, bias: false)
        XCTAssertEqual(conv.stateKeys(), ["weight"])
        XCTAssertEqual(conv.weight.shape, [8, 3, 3, 5])
        XCTAssertEqual(conv(Tensor.zeros([2, 3, 9, 10])).shape, [2, 8, 5, 5])
        let transposed = ConvTranspose2d(6, 4, kernelSize: 3, stride: 2, groups: 2)
        XCTAssertEqual(transposed.weight.shape, [6, 2, 3, 3])
        XCTAssertEqual(transposed(Tensor.zeros([6, 5, 5])).shape, [4, 11, 11])
        XCTAssertEqual(Conv1d(2, 4, kernelSize: 3, padding: .same, dilation: 2)(Tensor.zeros([1, 2, 7])).shape, [1, 4, 7])
    }
}
