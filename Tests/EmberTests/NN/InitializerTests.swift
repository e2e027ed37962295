import XCTest
import Ember
@testable import EmberNN

/// Initializers match PyTorch's definitions in distribution: bounds and moments of large
/// samples (tolerances several standard errors wide, seeded so the test is deterministic).
final class InitializerTests: XCTestCase {
    private func moments(_ t: Tensor) -> (mean: Double, std: Double, min: Double, max: Double) {
        let v = t.doubles
        let mean = v.reduce(0, +) / Double(v.count)
        let std = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
        return (mean, std, v.min()!, v.max()!)
    }

    override func setUp() { manualSeed(42) }

    func testFans() {
        XCTAssertTrue(Initializer.fans([64, 3, 7, 7]) == (147, 3136))
        XCTAssertTrue(Initializer.fans([10, 20]) == (20, 10))
    }

    func testLinearDefaultIsUniformOverOneOverSqrtFanIn() {
        let linear = Linear(400, 300)
        let w = moments(linear.weight), b = moments(linear.bias!)
        let bound = 1 / 20.0
        XCTAssertLessThanOrEqual(w.max, bound)
        XCTAssertGreaterThanOrEqual(w.min, -bound)
        XCTAssertEqual(w.max, bound, accuracy: bound * 0.01)
        XCTAssertEqual(w.std, bound / 3.0.squareRoot(), accuracy: bound * 0.01)
        XCTAssertLessThanOrEqual(b.max, bound)
    }

    func testKaimingAndXavier() {
        let kn = moments(Initializer.kaimingNormal(mode: .fanOut, nonlinearity: .relu).make([256, 128, 3, 3]))
        XCTAssertEqual(kn.std, (2.0 / (256 * 9)).squareRoot(), accuracy: 0.002 * kn.std * 10)
        XCTAssertEqual(kn.mean, 0, accuracy: 0.01 * kn.std)
        let xu = moments(Initializer.xavierUniform(gain: 2).make([300, 500]))
        let bound = 2 * (6.0 / 800).squareRoot()
        XCTAssertLessThanOrEqual(xu.max, bound)
        XCTAssertEqual(xu.max, bound, accuracy: bound * 0.01)
        let xn = moments(Initializer.xavierNormal().make([300, 500]))
        XCTAssertEqual(xn.std, (2.0 / 800).squareRoot(), accuracy: 0.01 * xn.std)
    }

    func testTruncatedNormalStaysInBounds() {
        let t = moments(Initializer.truncatedNormal(std: 1, a: -0.5, b: 1).make([20000]))
        XCTAssertGreaterThanOrEqual(t.min, -0.5)
        XCTAssertLessThanOrEqual(t.max, 1)
        // Mean of N(0,1) truncated to [-0.5, 1]: (φ(-0.5) - φ(1)) / (Φ(1) - Φ(-0.5)) = 0.2066.
        XCTAssertEqual(t.mean, 0.2066, accuracy: 0.01)
    }

    func testOrthogonalRowsOrColumnsAreOrthonormal() {
        for shape in [[6, 4], [4, 6], [5, 2, 3]] {
            let q = Initializer.orthogonal(gain: 3).make(shape, dtype: .float64)
            let m = q.reshaped(to: [shape[0], -1])
            let small = shape[0] <= m.shape[1] ? m.matmul(m.transposed()) : m.transposed().matmul(m)
            assertClose(small, Tensor.eye(small.shape[0], dtype: .float64) * 9, atol: 1e-10, rtol: 0, "\(shape)")
        }
    }

    func testApplyRefillsInPlaceAndConstants() {
        let t = Tensor.zeros([3, 3])
        Initializer.constant(2.5).apply(to: t)
        XCTAssertEqual(t.floats, [Float](repeating: 2.5, count: 9))
        XCTAssertEqual(Initializer.ones.make([2], dtype: .bfloat16).dtype, .bfloat16)
    }
}
