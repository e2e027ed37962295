// Self-attention as in the classic PyTorch tutorial, with einsum and maskedFill: a causal
// mask lets each position attend only to itself and earlier ones.
//
//     swift run example-simple-attention
import Ember
import EmberNN

let attention = SimpleAttention(embedSize: 8, heads: 2)
let x = Tensor.linspace(from: -1, through: 1, count: 2 * 4 * 8).reshaped(to: [2, 4, 8]).sin()
// [1, 1, query, key]: 1 where the key is not later than the query.
let causal = Tensor.ones([4, 4]).tril().reshaped(to: [1, 1, 4, 4])
let y = attention(values: x, keys: x, query: x, mask: causal)
print("output shape \(y.shape)")

// Changing the last position leaves the outputs at earlier positions as they were.
let changed = Tensor.concatenate([x.narrow(axis: 1, start: 0, count: 3), Tensor.zeros([2, 1, 8])], axis: 1)
let z = attention(values: changed, keys: changed, query: changed, mask: causal)
let earlier = (y.narrow(axis: 1, start: 0, count: 3) - z.narrow(axis: 1, start: 0, count: 3)).abs().max().item()
print("largest change at earlier positions: \(earlier)")

// Gradients of a loss reach every parameter.
(y * y).mean().backward()
for (name, parameter) in attention.namedParameters() {
    print("\(name): gradient norm \(parameter.grad!.square().sum().sqrt().item())")
}
