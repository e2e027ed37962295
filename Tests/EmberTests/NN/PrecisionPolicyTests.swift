import XCTest
import Ember
@testable import EmberNN

/// Module precision, Keras's mixed policy: set on a model it runs the model under autocast,
/// set on a layer it overrides the model's; the layers' own types show it. Also the layers
/// on autocast's lists under a region (Linear's bias, attention, losses).
final class PrecisionPolicyTests: XCTestCase {
    func testModelPolicyWithAFloat32Head() {
        manualSeed(3)
        let body = Linear(8, 16), head = Linear(16, 4)
        let model = Sequential(body, ReLU(), head)
        let x = Tensor.randomNormal([5, 8], source: .key(Key(1)))
        XCTAssertEqual(model(x).dtype, .float32)
        model.precision = .bf16
        XCTAssertEqual(body(x).dtype, .float32, "the policy applies to calls through the model")
        XCTAssertEqual(model(x).dtype, .bfloat16, "the head inherits bf16")
        head.precision = .fp32
        let mixed = model(x)
        XCTAssertEqual(mixed.dtype, .float32, "the head is kept in float32")
        model.precision = nil
        head.precision = nil
        let reference = model(x)
        XCTAssertEqual(reference.dtype, .float32)
        let scale = reference.abs().max().item()
        assertClose(mixed, reference, atol: 0.02 * scale, rtol: 0)
        // A layer set to bf16 inside an fp32 model runs in bf16 alone.
        body.precision = .bf16
        XCTAssertEqual(body(x).dtype, .bfloat16)
        XCTAssertEqual(model(x).dtype, .float32, "the float32 head promotes the bf16 activations")
    }

    func testLayersUnderAutocast() {
        manualSeed(4)
        let linear = Linear(6, 3)
        let attention = MultiHeadAttention(embedDim: 8, numHeads: 2, batchFirst: true)
        let x = Tensor.randomNormal([2, 6], source: .key(Key(2))), tokens = Tensor.randomNormal([2, 5, 8], source: .key(Key(3)))
        autocast {
            XCTAssertEqual(linear(x).dtype, .bfloat16, "the bias joins the product's type")
            XCTAssertEqual(crossEntropy(logits: linear(x), labels: Tensor([0, 2] as [Int64], shape: [2])).dtype, .float32)
            XCTAssertEqual(mseLoss(predictions: linear(x), targets: Tensor.zeros([2, 3])).dtype, .float32)
        }
        let expected = attention(query: tokens, key: tokens, value: tokens).output
        let actual = autocast { attention(query: tokens, key: tokens, value: tokens).output }
        XCTAssertEqual(actual.dtype, .bfloat16)
        assertClose(actual.cast(to: .float32), expected, atol: 0.02 * expected.abs().max().item(), rtol: 0)
    }
}
