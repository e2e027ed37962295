import CEmberVectorMath
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

    /// Every instruction set this CPU has gives the baseline's bits: the same IEEE operations
    /// in the same order, with no fused multiply-add (which would round once where the
    /// baseline rounds twice). Lengths 1...40 leave every size of tail.
    func testDispatchPathsAgreeBitForBit() {
        let x = grid + [.nan, -.nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.625, 1, 4, -4]
        let wider = [EmberCPUPath.AVX2, .AVX512].filter { ember_cpu_path_supported($0) != 0 }
        if wider.isEmpty { print("VectorMathTests: this CPU has only the baseline path; nothing to compare") }
        for function in [EmberVectorFunction.exp, .tanh, .sigmoid, .erf, .gelu] {
            for length in Array(1...40) + [x.count] {
                var baseline = [Float](repeating: 0, count: length)
                ember_vector_math_on(.baseline, function, x, &baseline, length)
                for path in wider {
                    var other = [Float](repeating: 1, count: length)
                    ember_vector_math_on(path, function, x, &other, length)
                    if let i = (0..<length).first(where: { baseline[$0].bitPattern != other[$0].bitPattern }) {
                        return XCTFail("\(function) of \(x[i]): \(String(cString: ember_cpu_path_name(path))) gives \(other[i]), "
                                       + "the baseline \(baseline[i])")
                    }
                }
            }
        }
    }

    /// The operations reach the kernel of the chosen path (a tensor's exp equals the path's).
    func testTensorOpsUseTheChosenPath() {
        XCTAssertTrue(["baseline", "avx2", "avx512"].contains(cpuDispatchPath))
        let x = Tensor(grid)
        var expected = [Float](repeating: 0, count: grid.count)
        ember_vector_math_on(ember_cpu_path(), .erf, grid, &expected, grid.count)
        XCTAssertEqual(x.erf().floats.map(\.bitPattern), expected.map(\.bitPattern))
    }
}
