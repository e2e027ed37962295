import XCTest
@testable import Ember

/// The transform half of the conformance suite (PyTorch's OpInfo, tinygrad's
/// helper_test_op): every case that `checkAgainstTorch` checks against PyTorch also runs
/// under every interpreter, in float64:
///
/// - `compile` equals eager;
/// - `vmap` equals a loop over examples: with every argument batched, and with each
///   argument batched alone while the others are shared by every example;
/// - `jvp` agrees with `vjp`: <jvp(t), w> = <t, vjp(w)> for a random tangent t;
/// - `grad` through a replay of the traced function equals eager `grad`.
///
/// Tolerances are 1e-10: the interpreters run the same float64 kernels, in another order
/// where fusion or batching regroups a sum.
func checkTransforms(_ name: String, _ f: @escaping ([Tensor]) -> Tensor, inputs: [Tensor], cotangent w: Tensor?,
                     wrt: [Int], file: StaticString = #filePath, line: UInt = #line) {
    let eager = f(inputs)
    let tolerance = 1e-10

    let compiled = compile { [f($0)] }
    assertClose(compiled(inputs)[0], eager, atol: tolerance, rtol: tolerance, "\(name): compile against eager", file: file, line: line)

    // A second example that differs from the first in every float (indices stay valid).
    let other = inputs.map { $0.dtype.isFloatingPoint ? $0 * 0.75 + 0.125 : $0 }
    let examples = [inputs, other]
    for batchedArgument in [nil] + inputs.indices.map(Optional.some) {
        let batched = inputs.indices.map { batchedArgument == nil || batchedArgument == $0 }
        let arguments = inputs.indices.map { i in
            batched[i] ? Tensor.stack(examples.map { $0[i] }, axis: 0) : inputs[i]
        }
        let result = vmap({ [f($0)] }, inAxes: batched.map { $0 ? 0 : nil })(arguments)[0]
        for (k, example) in examples.enumerated() {
            let looped = f(inputs.indices.map { batched[$0] ? example[$0] : inputs[$0] })
            assertClose(result[k], looped, atol: tolerance, rtol: tolerance,
                        "\(name): vmap example \(k) against the loop (batched: \(batched))", file: file, line: line)
        }
    }

    guard let w, !wrt.isEmpty else { return }
    let substituted = { (vars: [Tensor]) -> [Tensor] in
        var all = inputs
        for (k, i) in wrt.enumerated() { all[i] = vars[k] }
        return all
    }
    let primals = wrt.map { inputs[$0] }
    let tangents = primals.map { Tensor.randomNormal($0.shape, dtype: .float64, source: .key(Key(UInt64($0.count)))) }
    let (_, outputTangents) = jvp({ [f(substituted($0))] }, primals: primals, tangents: tangents)
    let (_, pullback) = vjp({ f(substituted($0)) }, primals)
    let cotangents = pullback(w)
    let forward = (outputTangents[0] * w).sum().item()
    let reverse = zip(tangents, cotangents).map { ($0 * $1).sum().item() }.reduce(0, +)
    XCTAssertEqual(forward, reverse, accuracy: tolerance * Swift.max(1, Swift.abs(reverse)),
                   "\(name): <jvp(t), w> against <t, vjp(w)>", file: file, line: line)

    let graph = trace(like: inputs) { [f($0)] }
    let (_, replayPullback) = vjp({ graph(substituted($0))[0] }, primals)
    for (k, gradient) in replayPullback(w).enumerated() {
        assertClose(gradient, cotangents[k], atol: tolerance, rtol: tolerance,
                    "\(name): gradient of input \(wrt[k]) through a trace replay", file: file, line: line)
    }
}
