import Ember
import EmberNN
import Foundation

/// W6: a pre-LN transformer encoder block (d_model 512, 8 heads, FFN 2048 with exact GELU,
/// no dropout) on [8, 128, 512]; forward and backward from `out.mean()` to the input and
/// all parameters, no optimizer step.
final class TransformerBlockWorkload: Workload {
    var id: String { "W6" }
    var name: String { "transformer-block pre-LN d512 h8 ffn2048, [8, 128, 512], forward + backward" }
    var unit: String { "ms/iter" }
    private var block: TransformerEncoderLayer!
    private var x: Tensor!

    func prepare() {
        block = TransformerEncoderLayer(dModel: 512, numHeads: 8, feedforward: 2048, dropout: 0, activation: .gelu,
                                        batchFirst: true, normFirst: true)
        x = Tensor.randomNormal([8, 128, 512], source: .key(Key(6))).requiringGrad()
    }

    func timedRun() -> Double {
        elapsed {
            block.zeroGrad()
            x.grad = nil
            block(x).mean().backward()
        }
    }

    func figure(seconds: Double) -> Double { seconds * 1000 }
}
