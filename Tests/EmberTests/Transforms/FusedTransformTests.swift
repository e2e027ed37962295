import XCTest
@testable import Ember

/// The fused primitive that `compile` builds, under the other transforms: its batching rule
/// and forward-mode rule replay the program's operations with their own rules.
final class FusedTransformTests: XCTestCase {
    private let chain = { (xs: [Tensor]) -> [Tensor] in
        [layerNorm((xs[0] * xs[1] + 0.5).gelu(), normalizedShape: [6]), (xs[0].exp() * xs[1]).sum(axis: -1)]
    }

    func testVmapOfACompiledFunctionEqualsTheLoop() {
        let compiled = compile(chain)
        let x = Tensor.randomNormal([4, 3, 6], dtype: .float64, source: .key(Key(1)))
        let w = Tensor.randomNormal([6], dtype: .float64, source: .key(Key(2)))
        let graph = trace(like: [x[0], w]) { compiled($0) }
        XCTAssertTrue(graph.operations.contains { if case .fused = $0.primitive { return true } else { return false } },
                      "the traced compiled function holds fused operations")
        let batched = vmap({ compiled($0) }, inAxes: [0, nil])([x, w])
        for i in 0..<4 {
            let single = chain([x[i], w])
            assertClose(batched[0][i], single[0], atol: 1e-12, rtol: 1e-12)
            assertClose(batched[1][i], single[1], atol: 1e-12, rtol: 1e-12)
        }
    }

    func testJVPOfACompiledFunctionEqualsTheUncompiledOne() {
        let compiled = compile(chain)
        let x = Tensor.randomNormal([3, 6], dtype: .float64, source: .key(Key(3)))
        let w = Tensor.randomNormal([6], dtype: .float64, source: .key(Key(4)))
        let tx = Tensor.randomNormal([3, 6], dtype: .float64, source: .key(Key(5)))
        let tw = Tensor.randomNormal([6], dtype: .float64, source: .key(Key(6)))
        let fused = jvp({ compiled($0) }, primals: [x, w], tangents: [tx, tw])
        let plain = jvp(chain, primals: [x, w], tangents: [tx, tw])
        for (a, b) in zip(fused.tangents, plain.tangents) { assertClose(a, b, atol: 1e-12, rtol: 1e-12) }
    }
}
