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
