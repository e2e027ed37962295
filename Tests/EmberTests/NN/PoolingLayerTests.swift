import XCTest
import Ember
@testable import EmberNN

/// MaxPool2d, AvgPool2d and AdaptiveAvgPool2d against the same PyTorch layers
/// (Fixtures/generate_layers.py): ceil mode, dilation, uneven adaptive windows; float64 to
/// 1e-9 and float32 (oneDNN where it applies).
final class PoolingLayerTests: XCTestCase {
    private let cases: [(String, any Layer)] = [
        ("max_pool", MaxPool2d(3, stride: 2, padding: 1)),
        ("max_pool_ceil", MaxPool2d(3, stride: 2, padding: 1, ceilMode: true)),
        ("max_pool_dilated", MaxPool2d([3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 3])),
        ("max_pool_dilated_ceil", MaxPool2d(2, stride: 2, padding: 1, dilation: 2, ceilMode: true)),
        ("avg_pool", AvgPool2d(2)),
        ("avg_pool_ceil", AvgPool2d(3, stride: 2, padding: 1, ceilMode: true)),
        ("avg_pool_ceil_exclude_pad", AvgPool2d([3, 2], stride: [2, 3], padding: [1, 0], ceilMode: true, countIncludePad: false)),
        ("adaptive_avg_pool", AdaptiveAvgPool2d([3, 4])),
        ("adaptive_avg_pool_global", AdaptiveAvgPool2d(1)),
        ("adaptive_avg_pool_divisible", AdaptiveAvgPool2d([2, 3])),
        ("adaptive_avg_pool_larger", AdaptiveAvgPool2d(5)),
        ("adaptive_avg_pool_unbatched", AdaptiveAvgPool2d(2)),
    ]

    func testAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        for (name, pool) in cases {
            fixtures.checkModule(name, pool, inputs: 1) { pool($0[0]) }
        }
    }

    /// Pooling compares or averages a handful of values: float32 rounding only.
    func testFloat32AgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        for (name, pool) in cases {
            let x = fixtures.tensor(name, "x0").cast(to: .float32)
            let (y, pullback) = vjp({ pool($0) }, x)
            XCTAssertEqual(y.dtype, .float32, name)
            assertClose(y, fixtures.tensor(name, "y"), atol: 1e-5, rtol: 1e-5, "\(name) output")
            assertClose(pullback(fixtures.tensor(name, "w").cast(to: .float32)), fixtures.tensor(name, "grad.x0"),
                        atol: 1e-5, rtol: 1e-5, "\(name) gradient")
        }
    }

    func testDefaultsAndShapes() {
        let pool = MaxPool2d(3)
        XCTAssertEqual(pool.stride, 3, "the stride defaults to the kernel size")
        XCTAssertEqual(pool.stateKeys(), [])
        XCTAssertEqual(AvgPool2d([2, 3]).stride, [2, 3])
        // Ceil mode drops a last window that would start in the right padding only.
        XCTAssertEqual(MaxPool2d(2, stride: 2, ceilMode: true)(Tensor.zeros([1, 1, 5, 4])).shape, [1, 1, 3, 2])
        XCTAssertEqual(AvgPool2d(3, stride: 3, padding: 1, ceilMode: true)(Tensor.zeros([1, 1, 4, 4])).shape, [1, 1, 2, 2])
        XCTAssertEqual(AdaptiveAvgPool2d([1, 3])(Tensor.zeros([2, 3, 7, 7])).shape, [2, 3, 1, 3])
    }
}
