/// JAX-style functional differentiation over functions of tensors.
///
/// Each transform marks its arguments as fresh differentiation variables and asks for the
/// gradient with respect to them. When an argument itself requires grad (an enclosing
/// transform or tape is differentiating through this one) the gradient is computed with its
/// own graph recorded, which is what makes `grad(grad(f))` work.
enum FunctionalAD {
    /// Fresh variables standing for `xs`: leaves when nothing outside differentiates through
    /// them, otherwise recorded identities so the result stays connected to the outer graph.
    static func variables(_ xs: [Tensor]) -> (vars: [Tensor], nested: Bool) {
        let nested = xs.contains { $0.requiresGrad } && isGradEnabled
        let vars = xs.map { x in
            nested && x.requiresGrad ? Dispatch.run1(.reshape(x.shape), [x]) : x.detached().requiringGrad()
        }
        return (vars, nested)
    }

    /// The cotangents of `inputs` through `formula`, a composite of primitives standing for
    /// one fused primitive: fresh variables replace the wanted floating-point inputs (connected
    /// to the outer graph when it is being recorded, for higher derivatives) and the formula's
    /// outputs that have a cotangent are differentiated.
    static func formulaVJP(_ formula: ([Tensor]) -> [Tensor], _ inputs: [Tensor], _ cotangents: [Tensor?],
                           _ needed: [Bool]) -> [Tensor?] {
        let differentiable = inputs.indices.filter { needed[$0] && inputs[$0].dtype.isFloatingPoint }
        var grads = [Tensor?](repeating: nil, count: inputs.count)
        guard !differentiable.isEmpty else { return grads }
        let (variables, nested) = variables(differentiable.map { inputs[$0] })
        var arguments = inputs
        for (k, i) in differentiable.enumerated() { arguments[i] = variables[k] }
        let results = withGradEnabled(true) { formula(arguments) }
        let used = results.indices.filter { results[$0].requiresGrad && cotangents[$0] != nil && results[$0].dtype.isFloatingPoint }
        guard !used.isEmpty else { return grads }
        let seeds = used.map { cotangents[$0]! }
        let keepGraph = nested || (seeds.contains { $0.requiresGrad } && isGradEnabled)
        let found = gradients(of: used.map { results[$0] }, withRespectTo: variables, gradOutputs: seeds, createGraph: keepGraph)
        for (k, i) in differentiable.enumerated() { grads[i] = found[k] }
        return grads
    }
}

/// The gradient of a scalar function of one tensor.
public func grad(_ f: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    { x in valueAndGrad(f)(x).grad }
}

/// The gradients of a scalar function of several tensors, one per argument.
public func grad(_ f: @escaping ([Tensor]) -> Tensor) -> ([Tensor]) -> [Tensor] {
    { xs in valueAndGrad(f)(xs).grads }
}

/// The value of a scalar function of one tensor and its gradient.
public func valueAndGrad(_ f: @escaping (Tensor) -> Tensor) -> (Tensor) -> (value: Tensor, grad: Tensor) {
    { x in
        let (value, grads) = valueAndGrad { (xs: [Tensor]) in f(xs[0]) }([x])
        return (value, grads[0])
    }
}

/// The value of a scalar function of several tensors and its gradients.
public func valueAndGrad(_ f: @escaping ([Tensor]) -> Tensor) -> ([Tensor]) -> (value: Tensor, grads: [Tensor]) {
    { xs in
        let (vars, nested) = FunctionalAD.variables(xs)
        let value = withGradEnabled(true) { f(vars) }
        precondition(value.count == 1, "grad: the function must return a scalar, got shape \(value.shape); use vjp for other outputs")
        guard value.requiresGrad else {
            return (value, xs.map { Tensor.zeros($0.shape, dtype: $0.dtype) })
        }
        let grads = gradients(of: [value], withRespectTo: vars, createGraph: nested)
        return (nested ? value : value.detached(), grads)
    }
}

/// The value of `f` at `xs` and its vector-Jacobian product: a function from a cotangent of
/// the output to the cotangents of the inputs.
public func vjp(_ f: @escaping ([Tensor]) -> Tensor, _ xs: [Tensor]) -> (value: Tensor, pullback: (Tensor) -> [Tensor]) {
    let (vars, nested) = FunctionalAD.variables(xs)
    let value = withGradEnabled(true) { f(vars) }
    let pullback: (Tensor) -> [Tensor] = { cotangent in
        precondition(cotangent.shape == value.shape, "vjp: the cotangent's shape \(cotangent.shape) must equal the output's \(value.shape)")
        guard value.requiresGrad else { return xs.map { Tensor.zeros($0.shape, dtype: $0.dtype) } }
        let keepGraph = nested || (cotangent.requiresGrad && isGradEnabled)
        return gradients(of: [value], withRespectTo: vars, gradOutputs: [cotangent], createGraph: keepGraph)
    }
    return (nested ? value : value.detached(), pullback)
}

/// `vjp` for a function of one tensor.
public func vjp(_ f: @escaping (Tensor) -> Tensor, _ x: Tensor) -> (value: Tensor, pullback: (Tensor) -> Tensor) {
    let (value, pullback) = vjp({ (xs: [Tensor]) in f(xs[0]) }, [x])
    return (value, { pullback($0)[0] })
}
