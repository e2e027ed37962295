import XCTest
import Ember
@testable import EmberOptim

/// Gradient clipping against torch.nn.utils (Fixtures/generate_optim.py), in float64.
final class ClippingTests: XCTestCase {
    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line,
                       _ clip: ([Tensor]) -> Tensor?) throws {
        let fixtures = try Fixtures("optim")
        let parameters = (0..<2).map { i in
            let g = fixtures.tensor(name, "g\(i)")
            let parameter = Tensor.zeros(g.shape, dtype: g.dtype).requiringGrad()
            parameter.grad = g
            return parameter
        }
        // A parameter without a gradient takes no part and keeps none.
        let withoutGradient = Tensor.zeros([7], dtype: .float64).requiringGrad()
        let total = clip(parameters + [withoutGradient])
        XCTAssertNil(withoutGradient.grad, file: file, line: line)
        for (i, parameter) in parameters.enumerated() {
            assertClose(parameter.grad!, fixtures.tensor(name, "clipped\(i)"), atol: 1e-14, rtol: 1e-12,
                        "\(name) gradient \(i)", file: file, line: line)
        }
        if let total {
            assertClose(total, fixtures.tensor(name, "total"), atol: 1e-14, rtol: 1e-12, "\(name) total norm", file: file, line: line)
        }
    }

    func testClipGradNormAgainstPyTorch() throws {
        try check("clip_norm_2") { clipGradNorm($0, maxNorm: 1) }
        try check("clip_norm_inf") { clipGradNorm($0, maxNorm: 0.5, normType: .infinity) }
        try check("clip_norm_1") { clipGradNorm($0, maxNorm: 2, normType: 1) }
        try check("clip_norm_unclipped") { clipGradNorm($0, maxNorm: 100) }
    }

    func testClipGradValueAgainstPyTorch() throws {
        try check("clip_value") {
            clipGradValue($0, clipValue: 0.3)
            return nil
        }
    }

    func testClipGradNormWithoutGradients() {
        XCTAssertEqual(clipGradNorm([Tensor.zeros([3])], maxNorm: 1).item(), 0)
    }
}
