import Ember

/// An optimizer in the functional (Optax) style: `initialize` makes a state tree for a
/// parameter tree, `update` turns gradients into updates and a new state, and
/// `applyUpdates` adds the updates to the parameters. Nothing is modified in place, so a
/// whole training step `(params, state, batch) -> (params, state, loss)` is a pure function
/// that `grad`, `vmap` and `compile` can transform. The step count lives in the state as a
/// tensor, so bias corrections stay inside a compiled step.
public struct GradientTransformation {
    public let initialize: (_ params: TensorTree) -> TensorTree
    public let update: (_ grads: TensorTree, _ state: TensorTree, _ params: TensorTree) -> (updates: TensorTree, state: TensorTree)

    public init(initialize: @escaping (_ params: TensorTree) -> TensorTree,
                update: @escaping (_ grads: TensorTree, _ state: TensorTree, _ params: TensorTree) -> (updates: TensorTree, state: TensorTree)) {
        self.initialize = initialize
        self.update = update
    }
}

/// `params + updates`, leaf by leaf.
public func applyUpdates(_ params: TensorTree, _ updates: TensorTree) -> TensorTree {
    TensorTree.zip([params, updates]) { $0[0] + $0[1] }
}

/// A state entry of zeros shaped like each parameter.
private func zerosLike(_ params: TensorTree) -> TensorTree { params.map { Tensor.zeros(like: $0) } }

/// A state node from named subtrees.
private func state(_ entries: [String: TensorTree]) -> TensorTree { .node(entries) }

/// Stochastic gradient descent with optional (Nesterov) momentum; the same steps as
/// PyTorch's SGD without dampening: `v = momentum v + g`, `p -= lr v` (or `lr (g + momentum v)`).
public func sgd(learningRate: Double, momentum: Double = 0, nesterov: Bool = false) -> GradientTransformation {
    precondition(learningRate >= 0 && momentum >= 0, "sgd: learning rate and momentum must be non-negative")
    precondition(!nesterov || momentum > 0, "sgd: Nesterov momentum needs a positive momentum")
    return GradientTransformation(
        initialize: { params in momentum == 0 ? state([:]) : state(["trace": zerosLike(params)]) },
        update: { grads, current, _ in
            guard momentum > 0, let trace = current["trace"] else {
                return (grads.map { $0 * -learningRate }, current)
            }
            let newTrace = TensorTree.zip([trace, grads]) { $0[0] * momentum + $0[1] }
            let direction = nesterov ? TensorTree.zip([grads, newTrace]) { $0[0] + $0[1] * momentum } : newTrace
            return (direction.map { $0 * -learningRate }, state(["trace": newTrace]))
        })
}

/// Adam (Kingma & Ba) with PyTorch's bias correction and epsilon placement; a positive
/// `weightDecay` makes it AdamW (decoupled decay, `p -= lr wd p`).
public func adam(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                 weightDecay: Double = 0) -> GradientTransformation {
    precondition(learningRate >= 0 && epsilon >= 0 && weightDecay >= 0, "adam: learning rate, epsilon and weight decay must be non-negative")
    precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "adam: betas must be in [0, 1), got \(beta1), \(beta2)")
    return GradientTransformation(
        initialize: { params in
            state(["mu": zerosLike(params), "nu": zerosLike(params), "count": .leaf(Tensor.scalar(0, dtype: .float64))])
        },
        update: { grads, current, params in
            let count = current["count"]!.tensor! + 1
            let mu = TensorTree.zip([current["mu"]!, grads]) { $0[0] * beta1 + $0[1] * (1 - beta1) }
            let nu = TensorTree.zip([current["nu"]!, grads]) { $0[0] * beta2 + $0[1] * $0[1] * (1 - beta2) }
            // Bias corrections 1 - β^t as float64 tensors, so a compiled step sees the count
            // change and float32 parameters get corrections as exact as PyTorch's.
            let correction1 = 1 - pow(Tensor.scalar(beta1, dtype: .float64), count)
            let correction2 = 1 - pow(Tensor.scalar(beta2, dtype: .float64), count)
            let updates = TensorTree.zip([mu, nu, params]) { leaves -> Tensor in
                let (m, v, p) = (leaves[0], leaves[1], leaves[2])
                let step = (m / correction1.cast(to: m.dtype)) / ((v / correction2.cast(to: m.dtype)).sqrt() + epsilon)
                let direction = weightDecay > 0 ? step + p * weightDecay : step
                return direction * -learningRate
            }
            return (updates, state(["mu": mu, "nu": nu, "count": .leaf(count)]))
        })
}

/// AdamW: Adam with decoupled weight decay (PyTorch's default decay 0.01).
public func adamW(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                  weightDecay: Double = 0.01) -> GradientTransformation {
    adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
}
