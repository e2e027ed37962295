import XCTest
import Ember
import EmberNN
import example_simple_attention

/// The SimpleAttention example (einsum, maskedFill, softmax, Linear) against the classic
/// PyTorch module (Fixtures/generate_core.py) with a causal mask: output and the gradients of
/// the three inputs and every parameter. float64 to rounding; float32 to 1e-5, sums of a few
/// dozen terms of order one.
final class SimpleAttentionTests: XCTestCase {
    func testMatchesPyTorch() {
        for (dtype, tolerance) in [(DType.float64, 1e-10), (.float32, 1e-5)] {
            let model = SimpleAttention(embedSize: 8, heads: 2, dtype: dtype)
            coreFixtures.checkModule("simple_attention", model, inputs: 4, atol: tolerance, rtol: tolerance) { xs in
                model(values: xs[0], keys: xs[1], query: xs[2], mask: xs[3])
            }
        }
    }
}
