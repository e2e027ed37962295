import XCTest
import Ember
@testable import EmberOptim

/// Accumulating the gradients of k micro-batches, each loss divided by k, then stepping
/// once, is one step on the whole batch: `backward()` adds into `grad` until zeroGrad.
final class GradientAccumulationTests: XCTestCase {
    private func check(_ make: ([Tensor]) -> any OptimizerProtocol, _ label: String) {
        let x = Tensor(doubles: (0..<24).map { sin(Double($0)) }, shape: [8, 3], dtype: .float64)
        let y = Tensor(doubles: (0..<16).map { cos(Double($0)) }, shape: [8, 2], dtype: .float64)
        func parameters() -> [Tensor] {
            [Tensor(doubles: [0.1, -0.2, 0.3, 0.4, -0.5, 0.6], shape: [3, 2], dtype: .float64).requiringGrad(),
             Tensor(doubles: [0.05, -0.05], dtype: .float64).requiringGrad()]
        }
        func loss(_ p: [Tensor], _ rows: Range<Int>) -> Tensor {
            (matmul(x[rows], p[0]) + p[1] - y[rows]).square().mean()
        }

        let whole = parameters(), wholeOptimizer = make(whole)
        let accumulated = parameters(), accumulatedOptimizer = make(accumulated)
        let microBatches = 4, size = 2
        for _ in 0..<3 {
            wholeOptimizer.zeroGrad()
            loss(whole, 0..<8).backward()
            wholeOptimizer.step()

            accumulatedOptimizer.zeroGrad()
            for k in 0..<microBatches {
                (loss(accumulated, k * size..<(k + 1) * size) / Double(microBatches)).backward()
            }
            accumulatedOptimizer.step()
        }
        for (a, b) in zip(accumulated, whole) {
            // Only the order of the sums differs.
            assertClose(a, b, atol: 1e-14, rtol: 1e-12, label)
        }
        XCTAssertNotEqual(whole[0].doubles, parameters()[0].doubles, "\(label): the parameters moved")
    }

    func testAccumulatedMicroBatchesEqualTheFullBatch() {
        check({ SGD($0, lr: 0.1, momentum: 0.9) }, "SGD")
        check({ Adam($0, lr: 0.01) }, "Adam")
    }
}
