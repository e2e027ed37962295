import Ember
import EmberNN
import Foundation

/// W6: a pre-LN transformer encoder block (d_model 512, 8 heads, FFN 2048 with exact GELU,
/// no dropout) on [8, 128, 512]; forward and backward from `out.mean()` to the input and
/// all parameters, no optimizer step. Compiled, the step is `compile(valueAndGrad(loss))`
/// over the parameters and the input.
final class TransformerBlockWorkload: Workload {
    let compiled: Bool
    var impl: String { compiled ? "ember-compiled" : "ember" }
    var id: String { "W6" }
    var name: String { "transformer-block pre-LN d512 h8 ffn2048, [8, 128, 512], forward + backward" }
    var unit: String { "ms/iter" }
    private var block: TransformerEncoderLayer!
    private var x: Tensor!
    private var step: CompiledValueAndGrad!

    init(compiled: Bool) {
        self.compiled = compiled
    }

    func prepare() {
        let block = TransformerEncoderLayer(dModel: 512, numHeads: 8, feedforward: 2048, dropout: 0, activation: .gelu,
                                            batchFirst: true, normFirst: true)
        self.block = block
        x = Tensor.randomNormal([8, 128, 512], source: .key(Key(6))).requiringGrad()
        let parameters = block.parameterTree()
        let loss = { (inputs: [Tensor]) -> Tensor in
            let weights: [Tensor] = Array(inputs.dropLast())
            let input: Tensor = inputs[inputs.count - 1]
            return block.applying(parameters.replacingLeaves(weights)) { block(input).mean() }
        }
        step = compile(valueAndGrad(loss))
    }

    func timedRun() -> Double {
        if compiled {
            // The gradients are part of the compiled graph; detached inputs keep the tape out.
            let inputs: [Tensor] = (block.parameterTree().leaves + [x!]).map { $0.detached() }
            return elapsed { _ = step(inputs) }
        }
        return elapsed {
            block.zeroGrad()
            x.grad = nil
            block(x).mean().backward()
        }
    }

    func figure(seconds: Double) -> Double { seconds * 1000 }
}
