/// Forward-mode differentiation (JAX's jvp): the outputs of `f` at `primals` and their
/// tangents, the Jacobian of `f` applied to `tangents` (one per primal, of its shape).
///
/// `f` is traced to a graph of primitives, so it must not read tensor values. The graph
/// is then replayed on the primals while each primitive's JVP rule (Primitives/ForwardMode.swift) pushes
/// the tangents forward. Both run through the dispatcher as tensor operations, so the results
/// can themselves be differentiated (grad of jvp), traced, vectorized or pushed forward
/// again (jvp of jvp, jvp of grad for Hessian-vector products).
///
/// Tensors `f` captures from outside are constants (zero tangent). Integer and bool primals
/// carry no tangent, and outputs that do not depend on a tangent get zeros. The tangent is
/// the derivative of the computed function: `detached()` and `noGrad` inside `f` only stop
/// reverse-mode gradients (the trace records values, not gradient barriers).
public func jvp(_ f: ([Tensor]) -> [Tensor], primals: [Tensor], tangents: [Tensor]) -> (outputs: [Tensor], tangents: [Tensor]) {
    precondition(primals.count == tangents.count, "jvp: \(primals.count) primals but \(tangents.count) tangents")
    for (i, (p, t)) in zip(primals, tangents).enumerated() {
        precondition(p.shape == t.shape, "jvp: tangent \(i) has shape \(t.shape), its primal \(p.shape)")
    }
    let graph = trace(like: primals, f)
    let seeds = zip(primals, tangents).map { p, t in p.dtype.isFloatingPoint ? t.cast(to: p.dtype) : nil }
    return JVP.run(graph, primals, seeds)
}

/// `jvp` for a function of one tensor.
public func jvp(_ f: (Tensor) -> Tensor, primal: Tensor, tangent: Tensor) -> (output: Tensor, tangent: Tensor) {
    let (outputs, tangents) = jvp({ xs in [f(xs[0])] }, primals: [primal], tangents: [tangent])
    return (outputs[0], tangents[0])
}

/// The forward-mode interpreter over a traced graph.
enum JVP {
    /// Replays `graph` on `primals` and pushes `tangents` (nil: zero) through it.
    static func run(_ graph: Graph, _ primals: [Tensor], _ tangents: [Tensor?]) -> (outputs: [Tensor], tangents: [Tensor]) {
        var values = graph.boundValues(primals, caller: "jvp")
        var dots = [Tensor?](repeating: nil, count: graph.specs.count)
        for (i, id) in graph.inputs.enumerated() { dots[id] = tangents[i] }
        for operation in graph.operations {
            let inputs = operation.inputs.map { values[$0]! }
            let outputs = Dispatch.run(operation.primitive, inputs)
            for (id, output) in zip(operation.outputs, outputs) { values[id] = output }
            let inputDots = operation.inputs.map { dots[$0] }
            // Symbolic zeros: a primitive none of whose inputs moves needs no rule.
            guard inputDots.contains(where: { $0 != nil }) else { continue }
            let outputDots = operation.primitive.jvp(inputs, outputs, inputDots)
            for (id, (output, dot)) in zip(operation.outputs, zip(outputs, outputDots)) where output.dtype.isFloatingPoint {
                dots[id] = dot
            }
        }
        graph.applyUpdates(values)
        let outputs = graph.outputs.map { values[$0]! }
        let outputDots = graph.outputs.map { id in
            dots[id] ?? Tensor.zeros(graph.specs[id].shape, dtype: graph.specs[id].dtype)
        }
        return (outputs, outputDots)
    }
}
