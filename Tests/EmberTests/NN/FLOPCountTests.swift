import Foundation
import XCTest
import Ember
import EmberModels
import EmberNN

/// FLOP counts of forward passes against PyTorch's FlopCounterMode
/// (Fixtures/generate_flops.py), and the summary's FLOPs column adding up to its total.
final class FLOPCountTests: XCTestCase {
    private struct Case: Decodable {
        let input_shape: [Int]
        let flops: Int
    }

    private func check(_ name: String, _ model: any Layer, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "flops", withExtension: "json", subdirectory: "Fixtures"))
        let expected = try XCTUnwrap(JSONDecoder().decode([String: Case].self, from: Data(contentsOf: url))[name])
        model.eval()
        let counted = countingFLOPs { noGrad { model(Tensor.zeros(expected.input_shape)) } }.flops
        XCTAssertEqual(counted, expected.flops, name, file: file, line: line)
    }

    func testResNet18() throws { try check("resnet18", ResNet.resnet18()) }
    func testResNet50() throws { try check("resnet50", ResNet.resnet50()) }
    func testGroupedStridedConvolution() throws {
        try check("grouped_conv", Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 1, groups: 2))
    }
    func testTransposedConvolution() throws {
        try check("conv_transpose", ConvTranspose2d(4, 3, kernelSize: 3, stride: 2, padding: 1))
    }
    func testLinearOnRank3Input() throws { try check("linear_3d", Linear(8, 5)) }
    func testTransformerEncoderLayer() throws {
        try check("encoder_layer", TransformerEncoderLayer(dModel: 64, numHeads: 4, feedforward: 128, dropout: 0, batchFirst: true))
    }

    /// Compiled code launches its kernels through the same function as eager code, so the
    /// counter sees them, fused convolutions included (ResNet-18 with batch norm folded).
    func testCompiledKernelsAreCounted() throws {
        let model = ResNet.resnet18(classes: 10)
        model.eval()
        let x = Tensor.zeros([1, 3, 32, 32])
        let eager = countingFLOPs { noGrad { model(x) } }.flops
        let compiled = compile({ model($0) }, options: .inference)
        _ = noGrad { compiled(x) }
        XCTAssertTrue(compiled.graph(for: [x]).operations.contains { if case .fused = $0.primitive { return true }; return false })
        XCTAssertEqual(countingFLOPs { noGrad { compiled(x) } }.flops, eager)
    }

    /// A convolution's backward pass costs twice its forward, the input's and the weight's
    /// gradient each what the forward costs (FlopCounterMode's rule), also where the input
    /// and the output differ in channels and size (an RGB stem, a strided widening layer).
    func testConvolutionGradientsEachCostTheForward() {
        let cases: [(x: [Int], w: [Int], stride: Size2D)] = [([2, 3, 9, 9], [16, 3, 3, 3], 1), ([2, 8, 10, 10], [16, 8, 3, 3], 2)]
        for c in cases {
            let f = { (t: [Tensor]) in conv2d(t[0], weight: t[1], stride: c.stride, padding: 1) }
            let inputs = [Tensor.ones(c.x), Tensor.ones(c.w)]
            let forward = countingFLOPs { _ = f(inputs) }.flops
            let (y, pullback) = vjp(f, inputs)
            XCTAssertEqual(forward, 2 * y.shape.reduce(1, *) * c.w.dropFirst().reduce(1, *))
            XCTAssertEqual(countingFLOPs { _ = pullback(Tensor.ones(y.shape)) }.flops, 2 * forward, "\(c)")
        }
    }

    func testCountsNestAndStopOutside() {
        let a = Tensor.ones([4, 3]), b = Tensor.ones([3, 5])
        let (inner, outer) = countingFLOPs { () -> Int in
            _ = matmul(a, b)
            return countingFLOPs { _ = matmul(a, b) }.flops
        }
        XCTAssertEqual(inner, 2 * 4 * 5 * 3)
        XCTAssertEqual(outer, 2 * inner)
        _ = matmul(a, b)
        XCTAssertNil(FLOPCounter.current)
    }

    func testSummaryReportsFLOPsPerExample() throws {
        let model = ResNet.resnet18(classes: 10)
        model.eval()
        let perExample = countingFLOPs { noGrad { model(Tensor.zeros([1, 3, 64, 64])) } }.flops
        let text = model.summary(input: Tensor.zeros([2, 3, 64, 64]))
        let lines = text.split(separator: "\n").map(String.init)
        let total = try XCTUnwrap(lines.first { $0.hasPrefix("FLOPs per example: ") }, text)
        let digits = total.dropFirst("FLOPs per example: ".count).prefix { $0 != " " }.filter { $0 != "," }
        XCTAssertEqual(Int(digits), perExample, text)
        XCTAssertTrue(total.hasSuffix(String(format: "(%.2fM)", Double(perExample) / 1e6)), text)
        // The stem: 2 x (64 x 32 x 32 outputs) x (3 x 7 x 7 window) = 19.27M per example.
        XCTAssertTrue(lines.contains { $0.contains("conv1 (Conv2d)") && $0.contains("[2, 64, 32, 32]") && $0.contains("19.27M") }, text)
    }
}
