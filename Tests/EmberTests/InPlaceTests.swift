import XCTest
@testable import Ember

/// The fused in-place updates against the same arithmetic with tensor operations.
final class InPlaceTests: XCTestCase {
    private let updates: [InPlaceUpdate] = [
        .scaleAndAdd(scale: 0.9, alpha: 1), .scaleAndAdd(scale: 1, alpha: -0.01),
        .scaleAndAddProduct(scale: 0.999, alpha: 0.001),
        .addRatioToSquareRoot(alpha: -0.003, denominatorScale: 1.7, epsilon: 1e-8),
    ]

    func testFusedLoopsMatchTensorArithmetic() {
        for dtype in [DType.float32, .float64, .bfloat16] {
            for update in updates {
                let key = Key(5)
                let t = Tensor.randomNormal([1000, 70], dtype: dtype, source: .key(key.fold(in: 1)))
                let x = Tensor.randomNormal([1000, 70], dtype: dtype, source: .key(key.fold(in: 2)))
                let y = Tensor.randomUniform([1000, 70], low: 0.1, high: 2, dtype: dtype, source: .key(key.fold(in: 3)))
                let operands = update == .scaleAndAdd(scale: 0.9, alpha: 1) || update == .scaleAndAdd(scale: 1, alpha: -0.01) ? [x] : [x, y]
                let expected = update.reference(t, operands)
                switch operands.count {
                case 1: t.update(update, operands[0])
                default: t.update(update, operands[0], operands[1])
                }
                let tolerance = dtype == .float64 ? 1e-15 : dtype == .float32 ? 1e-6 : 1e-2
                assertClose(t, expected, atol: tolerance, rtol: tolerance, "\(dtype) \(update)")
            }
        }
    }

    func testStridedOperandsAndViewsOfTheTarget() {
        let t = Tensor.zeros([3, 4], dtype: .float64)
        let x = Tensor(doubles: (0..<12).map(Double.init), shape: [4, 3], dtype: .float64).transposed()
        t.update(.scaleAndAdd(scale: 1, alpha: 2), x)
        assertClose(t, x * 2, atol: 0, rtol: 0)
        // A strided target takes the composed path and still updates in place.
        let column = t[0..., 1]
        column.update(.scaleAndAdd(scale: 0, alpha: 1), Tensor.ones([3], dtype: .float64))
        XCTAssertEqual(t[0..., 1].doubles, [1, 1, 1])
    }
}
