import Foundation
import XCTest
@testable import Ember

/// The SIMD float32 exp, tanh, sigmoid and erf against float64 libm over a dense grid and
/// the special values; the bound is a few float32 ulp (relative, or absolute near zero
/// where the function crosses it).
final class VectorMathTests: XCTestCase {
    let grid: [Float] = stride(from: -30.0, through: 30.0, by: 0.000731).map { Float($0) }
        + [0, -0, 1e-30, -1e-30, 1e-6, 88.5, 88.8, -87.5, -100, 100, .infinity, -.infinity]

    func check(_ name: String, _ op: (Tensor) -> Tensor, _ reference: (Double) -> Double,
               relative: Double, absolute: Double) {
        let x = Tensor(grid)
        let y = op(x).floats
        for (input, value) in zip(grid, y) {
            let expected = reference(Double(input))
            if expected.isInfinite || expected > Double(Float.greatestFiniteMagnitude) {
                XCTAssertEqual(Double(value), expected.isInfinite ? expected : .infinity, "\(name)(\(input))")
                continue
            }
            let error = Swift.abs(Double(value) - expected)
            XCTAssertLessThanOrEqual(error, absolute + relative * Swift.abs(expected), "\(name)(\(input)) = \(value), expected \(expected)")
            if error > absolute + relative * Swift.abs(expected) { return }
        }
        XCTAssertTrue(op(Tensor([Float.nan])).floats[0].isNaN, "\(name)(nan)")
    }

    func testExp() { check("exp", { $0.exp() }, Foundation.exp, relative: 4e-7, absolute: 1e-38) }
    func testTanh() { check("tanh", { $0.tanh() }, Foundation.tanh, relative: 4e-7, absolute: 1e-37) }
    func testSigmoid() { check("sigmoid", { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, relative: 6e-7, absolute: 1e-38) }
    func testErf() { check("erf", { $0.erf() }, Foundation.erf, relative: 4e-7, absolute: 1e-37) }
}
