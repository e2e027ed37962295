import XCTest
@testable import Ember
final class SmokeTests: XCTestCase {
    func testAdd() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = Tensor([10, 20, 30] as [Float])
        print(a + b)
        print((a + b).sum(axis: 0), a.sum(axis: 1), a.max(), a.argmax(axis: 1))
        print(a.transposed().contiguous(), a[0..., 1], a[TensorIndex.all, TensorIndex.stride(by: -1)])
        let m = matmul(a, a.transposed())
        print(m)
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        let y = (x * x * x).sum()
        y.backward()
        print(x.grad!)
        let g2 = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }(Tensor([1, 2, 3] as [Double]))
        print("second", g2)
        let graph = trace([TensorSpec([2, 3], .float32)]) { xs in [(xs[0] * 2).exp().sum(axis: 1)] }
        print(graph)
        print(graph([a])[0], (a * 2).exp().sum(axis: 1))
        print(Tensor.randomNormal([2, 3]), a.softmax(axis: 1), a.padded([Padding(1, 0), Padding(0, 2)]))
        let big = Tensor.randomNormal([300, 200])
        print(big.sum().item(), big.doubles.reduce(0, +))
        print(Tensor.concatenate([a, a], axis: 1), Tensor.stack([b, b]), a.cast(to: .bfloat16), a.cast(to: .float16) * 2)
    }
}
