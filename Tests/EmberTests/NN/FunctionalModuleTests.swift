import XCTest
import Ember
@testable import EmberNN

final class FunctionalModuleTests: XCTestCase {
    func testTensorTreeNestsByDottedNameAndFlattensSorted() {
        let a = Tensor([1.0]), b = Tensor([2.0]), c = Tensor([3.0])
        let tree = TensorTree(flat: ["layer1.0.weight": a, "fc.bias": b, "layer1.0.bias": c])
        XCTAssertEqual(tree.paths, ["fc.bias", "layer1.0.bias", "layer1.0.weight"])
        XCTAssertTrue(tree["layer1"]?["0"]?["weight"]?.tensor === a)
        XCTAssertTrue(tree.leaves[1] === c)
        XCTAssertEqual(Set(tree.flat.keys), ["fc.bias", "layer1.0.bias", "layer1.0.weight"])
        let doubled = tree.map { $0 * 2 }
        XCTAssertEqual(doubled.leaves.map { $0.item() }, [4, 6, 2])
        let sum = TensorTree.zip([tree, doubled]) { $0[0] + $0[1] }
        XCTAssertEqual(sum.flat["layer1.0.weight"]?.item(), 3)
    }

    func testGradientWithRespectToAParameterTreeEqualsBackward() {
        manualSeed(1)
        let model = Sequential(Linear(5, 4, dtype: .float64), Tanh(), Linear(4, 2, dtype: .float64))
        let x = Tensor.randomNormal([3, 5], dtype: .float64)
        let loss = { (params: TensorTree) -> Tensor in model.applying(params) { model(x).square().mean() } }

        let (value, grads) = valueAndGrad(loss)(model.parameterTree())
        model(x).square().mean().backward()
        XCTAssertEqual(grads.paths, ["0.bias", "0.weight", "2.bias", "2.weight"])
        for (name, parameter) in model.namedParameters() {
            assertClose(grads.flat[name]!, parameter.grad!, atol: 1e-14, rtol: 1e-14, name)
        }
        XCTAssertEqual(value.item(), model(x).square().mean().item(), accuracy: 1e-14)
    }

    func testApplyingOtherParametersLeavesTheModuleUnchanged() {
        let linear = Linear(2, 1)
        let original = linear.parameterTree()
        let zeros = original.map { Tensor.zeros(like: $0) }
        let y = linear.applying(zeros) { linear(Tensor([[1, 1]] as [[Float]])) }
        XCTAssertEqual(y.item(), 0)
        XCTAssertTrue(linear.weight === original.flat["weight"]!.self)
    }
}
