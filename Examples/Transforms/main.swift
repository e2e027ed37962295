// Composable function transforms, the JAX way: `grad` for a fit by gradient descent,
// `vmap` for per-example gradients without a loop, `jvp` for a forward-mode derivative
// and `compile` for a traced, fused step.
//
//     swift run -c release example-transforms
import Ember

// Noisy points on y = 3x - 2; fit (slope, intercept) by gradient descent on the mean squared error.
let key = Key(7)
let x = Tensor.randomUniform([256], low: -1, high: 1, dtype: .float64, source: .key(key.fold(in: 0)))
let y = x * 3 - 2 + Tensor.randomNormal([256], std: 0.1, dtype: .float64, source: .key(key.fold(in: 1)))

func loss(_ parameters: [Tensor]) -> Tensor {
    (x * parameters[0] + parameters[1] - y).square().mean()
}

// compile traces the gradient step once and replays the fused graph afterwards.
let step = compile { (parameters: [Tensor]) -> [Tensor] in
    let gradients = grad(loss)(parameters)
    return zip(parameters, gradients).map { $0 - $1 * 0.5 }
}
var parameters = [Tensor(0.0), Tensor(0.0)]
for _ in 0..<200 { parameters = step(parameters) }
print("slope \(parameters[0].item()), intercept \(parameters[1].item()) (true: 3, -2)")

// Per-example gradients of the squared error with respect to the slope: vmap over the
// examples of a function written for one example.
let perExample = vmap({ (inputs: [Tensor]) in
    [grad { (slope: Tensor) in (slope * inputs[0] + parameters[1] - inputs[1]).square() }(parameters[0])]
}, inAxes: [0, 0])([x, y])[0]
print("per-example gradients: shape \(perExample.shape), mean \(perExample.mean().item())")

// Forward mode: the derivative of sin at 0 and 1 along the tangent 1.
let (value, derivative) = jvp({ $0.sin() }, primal: Tensor([0, 1] as [Double]), tangent: Tensor([1, 1] as [Double]))
print("sin: \(value.doubles), cos: \(derivative.doubles)")

// Second derivatives compose: d²/dx² of x³ is 6x.
let second = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }
print("6x at 1, 2, 3: \(second(Tensor([1, 2, 3] as [Double])).doubles)")
