import Foundation
import XCTest
@testable import Ember

/// Asserts that two tensors have the same shape and values within atol + rtol * |expected|.
func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Double = 1e-5, rtol: Double = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message())", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let a = actual.doubles, e = expected.doubles
    var worst = 0.0, worstIndex = -1
    for i in 0..<a.count {
        if a[i].isNaN && e[i].isNaN { continue }
        if a[i] == e[i] { continue }
        let excess = Swift.abs(a[i] - e[i]) - (atol + rtol * Swift.abs(e[i]))
        if excess > worst || (a[i].isNaN != e[i].isNaN) {
            worst = a[i].isNaN != e[i].isNaN ? .infinity : excess
            worstIndex = i
        }
    }
    if worstIndex >= 0 {
        XCTFail("values differ at flat index \(worstIndex): \(a[worstIndex]) vs expected \(e[worstIndex]) (atol \(atol), rtol \(rtol)) \(message())",
                file: file, line: line)
    }
}

func assertClose(_ actual: Tensor, _ expected: [Double], atol: Double = 1e-5, rtol: Double = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, Tensor(doubles: expected, shape: actual.shape, dtype: .float64), atol: atol, rtol: rtol,
                message(), file: file, line: line)
}

/// Compares autograd gradients of a scalar function with central finite differences in
/// float64. Inputs should be float64; `indices` selects which inputs to differentiate.
func checkGradients(_ f: @escaping ([Tensor]) -> Tensor, _ inputs: [Tensor], wrt indices: [Int]? = nil,
                    eps: Double = 1e-6, atol: Double = 1e-6, rtol: Double = 1e-5,
                    file: StaticString = #filePath, line: UInt = #line) {
    let which = indices ?? Array(inputs.indices)
    let analytic = grad { (vars: [Tensor]) -> Tensor in
        var all = inputs
        for (k, i) in which.enumerated() { all[i] = vars[k] }
        return f(all)
    }(which.map { inputs[$0] })
    for (k, i) in which.enumerated() {
        let x = inputs[i]
        var values = x.doubles
        var numeric = [Double](repeating: 0, count: values.count)
        for j in 0..<values.count {
            let original = values[j]
            func evaluate(_ v: Double) -> Double {
                values[j] = v
                var all = inputs
                all[i] = Tensor(doubles: values, shape: x.shape, dtype: x.dtype)
                return noGrad { f(all) }.item()
            }
            numeric[j] = (evaluate(original + eps) - evaluate(original - eps)) / (2 * eps)
            values[j] = original
        }
        assertClose(analytic[k], Tensor(doubles: numeric, shape: x.shape, dtype: .float64), atol: atol, rtol: rtol,
                    "gradient of input \(i)", file: file, line: line)
    }
}

/// Reference values produced by the generator scripts in Fixtures/ (PyTorch).
/// Each file maps a case name to named tensors: {"shape": [...], "dtype": "...", "data": [...]}.
struct Fixtures {
    let cases: [String: [String: Any]]

    init(_ name: String) throws {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw NSError(domain: "Fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "missing fixture file \(name).json"])
        }
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        cases = object as? [String: [String: Any]] ?? [:]
    }

    /// The tensor `key` of case `name`.
    func tensor(_ name: String, _ key: String, file: StaticString = #filePath, line: UInt = #line) -> Tensor {
        guard let entry = cases[name]?[key] as? [String: Any],
              let shape = entry["shape"] as? [Int],
              let dtypeName = entry["dtype"] as? String,
              let dtype = DType.allCases.first(where: { "\($0)" == dtypeName }),
              let data = entry["data"] as? [Any] else {
            XCTFail("fixture \(name).\(key) is missing or malformed", file: file, line: line)
            return Tensor.zeros([0])
        }
        let values = data.map { value -> Double in
            // JSONSerialization gives long numbers as NSDecimalNumber, whose doubleValue is not
            // correctly rounded (100.30000305175781 becomes ...778); its decimal string is exact.
            if let decimal = value as? NSDecimalNumber, let exact = Double(decimal.stringValue) { return exact }
            if let number = value as? NSNumber { return number.doubleValue }
            switch value as? String {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: return 0
            }
        }
        return Tensor(doubles: values, shape: shape, dtype: dtype)
    }

    func has(_ name: String) -> Bool { cases[name] != nil }
}

/// The gradients of `(fused(inputs) * weight).sum()` with respect to the inputs in `wrt`
/// equal those through `reference` (the unfused formula), and float64 central differences
/// along `direction(i)` for each of them.
func assertGradientsMatchFormulaAndFiniteDifferences(
    _ fused: @escaping ([Tensor]) -> Tensor, reference: @escaping ([Tensor]) -> Tensor, inputs: [Tensor], wrt: [Int],
    weight: Tensor, direction: (Int) -> Tensor, atol: Double, rtol: Double, finiteDifferences tolerance: Double,
    _ name: String, file: StaticString = #filePath, line: UInt = #line
) {
    func substituted(_ vars: [Tensor]) -> [Tensor] {
        var all = inputs
        for (k, i) in wrt.enumerated() { all[i] = vars[k] }
        return all
    }
    let fusedGrads = vjp({ fused(substituted($0)) }, wrt.map { inputs[$0] }).pullback(weight)
    let referenceGrads = vjp({ reference(substituted($0)) }, wrt.map { inputs[$0] }).pullback(weight)
    for (k, i) in wrt.enumerated() {
        assertClose(fusedGrads[k], referenceGrads[k], atol: atol, rtol: rtol, "\(name): gradient of input \(i)", file: file, line: line)
        let step = direction(i)
        func loss(_ h: Double) -> Double {
            var shifted = inputs
            shifted[i] = shifted[i] + step * h
            return (fused(shifted) * weight).sum().item()
        }
        let eps = 1e-6
        let numeric = (loss(eps) - loss(-eps)) / (2 * eps)
        let analytic = (fusedGrads[k] * step).sum().item()
        XCTAssertEqual(analytic, numeric, accuracy: tolerance * max(1, abs(numeric)), "\(name): finite differences of input \(i)",
                       file: file, line: line)
    }
}
