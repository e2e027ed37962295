import XCTest
import Ember
@testable import EmberNN

// Checks of a module against the same module in PyTorch, for cases written by
// Fixtures/module_fixtures.py `module_case`: `state.<key>` for every parameter and buffer,
// inputs `x0`, `x1`, ..., the output `y` (the first output where there are several), a
// cotangent `w`, and the gradients `grad.x0`, ..., `grad.<parameter key>` of sum(w * y).
extension Fixtures {
    /// Loads the case's state into `module` (strictly, so every key must match PyTorch's),
    /// runs `forward` on the inputs, and compares output and gradients. The module should be
    /// float64 for tight tolerances (the reference is computed in float64).
    func checkModule(_ name: String, _ module: Module, inputs count: Int, atol: Double = 1e-9, rtol: Double = 1e-9,
                     gradientsOfInputs: Bool = true, file: StaticString = #filePath, line: UInt = #line,
                     _ forward: ([Tensor]) -> Tensor) {
        let keys = module.stateKeys()
        var state = [String: Tensor]()
        for (key, _) in cases[name] ?? [:] where key.hasPrefix("state.") {
            state[String(key.dropFirst("state.".count))] = tensor(name, key)
        }
        XCTAssertEqual(Set(keys), Set(state.keys), "\(name): state keys differ from PyTorch's", file: file, line: line)
        do {
            try module.loadStateDict(state)
        } catch {
            XCTFail("\(name): \(error)", file: file, line: line)
            return
        }
        module.zeroGrad()
        // Floating-point inputs take the module's dtype, so float64 modules are checked tightly.
        let dtype = module.parameters().first?.dtype ?? .float64
        let inputs = (0..<count).map { i -> Tensor in
            let x = tensor(name, "x\(i)")
            guard x.dtype.isFloatingPoint else { return x }
            return gradientsOfInputs ? x.cast(to: dtype).requiringGrad() : x.cast(to: dtype)
        }
        let y = forward(inputs)
        assertClose(y, tensor(name, "y"), atol: atol, rtol: rtol, "\(name) output", file: file, line: line)
        (y * tensor(name, "w")).sum().backward()
        for (i, x) in inputs.enumerated() where has(name, "grad.x\(i)") {
            guard let g = x.grad else {
                XCTFail("\(name): no gradient for input \(i)", file: file, line: line)
                continue
            }
            assertClose(g, tensor(name, "grad.x\(i)"), atol: atol, rtol: rtol, "\(name) gradient of input \(i)", file: file, line: line)
        }
        for (key, parameter) in module.namedParameters() where has(name, "grad.\(key)") {
            guard let g = parameter.grad else {
                XCTFail("\(name): no gradient for \(key)", file: file, line: line)
                continue
            }
            assertClose(g, tensor(name, "grad.\(key)"), atol: atol, rtol: rtol, "\(name) gradient of \(key)", file: file, line: line)
        }
    }

    /// The buffers the case holds after PyTorch's forward pass (`after.<key>`), e.g. running statistics.
    func checkBuffersAfter(_ name: String, _ module: Module, atol: Double = 1e-9, file: StaticString = #filePath, line: UInt = #line) {
        for (key, buffer) in module.namedBuffers() where has(name, "after.\(key)") {
            assertClose(buffer, tensor(name, "after.\(key)"), atol: atol, rtol: atol, "\(name) buffer \(key) after forward",
                        file: file, line: line)
        }
    }
}
