import XCTest
@testable import Ember

/// PyTorch's values for the core operations, written by Fixtures/generate_core.py.
let coreFixtures: Fixtures = {
    do {
        return try Fixtures("core")
    } catch {
        fatalError("cannot load Fixtures/core.json (run Fixtures/generate_core.py): \(error)")
    }
}()

/// Checks `f` against a case of generate_core.py. A case holds inputs x0, x1, ... (float32
/// values, or integer and bool indices and conditions), PyTorch's value y computed in float64
/// from those inputs and, for differentiable outputs, a random cotangent w with PyTorch's
/// vector-Jacobian products d0, d1, ... for the inputs it differentiates.
///
/// - With float64 inputs, the value and the products must agree to 1e-12: the two frameworks
///   evaluate the same formulas, so only rounding separates them.
/// - With the float32 inputs, the value must be float32 and agree to `atol` + `rtol` |y|:
///   float32 rounding, about 1e-7 relative per operation, a little more for long sums.
/// - The products must also match float64 central finite differences of sum(w * f), unless
///   `finiteDifferences` is false (the case's inputs sit on jumps of f, e.g. round at halves).
/// - Every transform must agree with eager execution (`checkTransforms`, the conformance suite).
func checkAgainstTorch(_ name: String, atol: Double = 1e-6, rtol: Double = 1e-6, finiteDifferences: Bool = true,
                       file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Tensor]) -> Tensor) {
    let fixture = coreFixtures
    guard let entry = fixture.cases[name] else {
        XCTFail("missing fixture case \(name); rerun Fixtures/generate_core.py", file: file, line: line)
        return
    }
    var inputs = [Tensor]()
    while entry["x\(inputs.count)"] != nil { inputs.append(fixture.tensor(name, "x\(inputs.count)")) }
    let expected = fixture.tensor(name, "y")
    let wide = inputs.map { $0.dtype.isFloatingPoint ? $0.cast(to: .float64) : $0 }

    let narrowValue = f(inputs)
    XCTAssertEqual(narrowValue.dtype, expected.dtype.isFloatingPoint ? .float32 : expected.dtype,
                   "\(name): dtype of the float32 result", file: file, line: line)
    assertClose(narrowValue, expected, atol: atol, rtol: rtol, "\(name) in float32", file: file, line: line)
    assertClose(f(wide), expected, atol: 1e-12, rtol: 1e-12, "\(name) in float64", file: file, line: line)

    let w = entry["w"] == nil ? nil : fixture.tensor(name, "w").cast(to: .float64)
    let wrt = wide.indices.filter { entry["d\($0)"] != nil }
    checkTransforms(name, f, inputs: wide, cotangent: w, wrt: wrt, file: file, line: line)
    guard let w else { return }
    let substituted = { (vars: [Tensor]) -> [Tensor] in
        var all = wide
        for (k, i) in wrt.enumerated() { all[i] = vars[k] }
        return all
    }
    let (_, pullback) = vjp({ f(substituted($0)) }, wrt.map { wide[$0] })
    for (k, gradient) in pullback(w).enumerated() {
        assertClose(gradient, fixture.tensor(name, "d\(wrt[k])"), atol: 1e-12, rtol: 1e-12,
                    "\(name): gradient of x\(wrt[k]) against PyTorch", file: file, line: line)
    }
    if finiteDifferences {
        checkGradients({ (f($0) * w).sum() }, wide, wrt: wrt, file: file, line: line)
    }
}
