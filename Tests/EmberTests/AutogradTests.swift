import XCTest
@testable import Ember

final class AutogradTests: XCTestCase {
    func testSecondDerivative() {
        // d2/dx2 sum(x^3) = 6x
        let x = Tensor([1, -2, 3] as [Double])
        let g2 = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }(x)
        assertClose(g2, [6, -12, 18])
    }
}

final class TracedGradientTests: XCTestCase {
    func testTracingValueAndGradRecordsTheBackwardPass() {
        let f = { (xs: [Tensor]) -> [Tensor] in
            let (value, g) = valueAndGrad { (t: Tensor) in (t * t).sum() }(xs[0])
            return [value, g]
        }
        let graph = trace([TensorSpec([3], .float64)], f)
        let x = Tensor([1, 2, -3] as [Double])
        let replayed = graph([x])
        assertClose(replayed[0], [14])
        assertClose(replayed[1], [2, 4, -6])
    }
}
