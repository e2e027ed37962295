import Foundation

/// Vectorizing map (JAX's vmap): `vmap(f, inAxes:, outAxes:)(xs)` equals applying `f` to
/// each slice of the arguments along their `inAxes` and stacking the results along
/// `outAxes`, computed as one batched computation without a loop over the batch.
///
/// A nil in-axis passes that argument whole to every example. `inAxes` defaults to 0 for
/// every argument and `outAxes` to 0 for every result; negative axes count from the end.
///
/// `f` is traced on one example's shapes (so it must not read tensor values); the graph
/// is then rewritten primitive by primitive with batching rules (Primitives/Batching.swift) and run
/// through the dispatcher, so the result can be differentiated, traced or vectorized again:
/// `grad(vmap(f))`, `vmap(grad(f))` (per-example gradients) and nested `vmap` compose.
///
/// Randomness: a draw from a generator (the global one) inside `f` gives example b the
/// numbers the b-th call of a loop over the examples would draw, and advances the
/// generator as the loop would; a key tensor passed unbatched gives every example the same
/// numbers, a batch of keys one stream per example (as in JAX). An assignment to a
/// captured tensor (`assign`) must not differ between examples.
///
/// An `axisName` names the batch axis for collectives inside `f` (EmberDistributed's
/// `psum`, `pmean`... as in JAX), which then combine the examples as `pmap` combines ranks.
public func vmap(_ f: @escaping ([Tensor]) -> [Tensor], inAxes: [Int?]? = nil, outAxes: [Int]? = nil,
                 axisName: String? = nil) -> ([Tensor]) -> [Tensor] {
    { xs in
        Batching.run(f, xs, inAxes: inAxes ?? Array(repeating: 0, count: xs.count), outAxes: outAxes, axisName: axisName)
    }
}

/// `vmap` for a function of one tensor.
public func vmap(_ f: @escaping (Tensor) -> Tensor, inAxis: Int = 0, outAxis: Int = 0, axisName: String? = nil) -> (Tensor) -> Tensor {
    let batched = vmap({ xs in [f(xs[0])] }, inAxes: [inAxis], outAxes: [outAxis], axisName: axisName)
    return { x in batched([x])[0] }
}

/// The batching interpreter over a traced graph.
enum Batching {
    static func run(_ f: ([Tensor]) -> [Tensor], _ xs: [Tensor], inAxes: [Int?], outAxes: [Int]?, axisName: String?) -> [Tensor] {
        precondition(inAxes.count == xs.count, "vmap: \(inAxes.count) in-axes for \(xs.count) arguments")
        var size: Int?
        var fronts = [Tensor](), batched = [Bool]()
        for (i, (x, inAxis)) in zip(xs, inAxes).enumerated() {
            guard let inAxis else {
                fronts.append(x)
                batched.append(false)
                continue
            }
            guard let axis = ShapeMath.normalize(axis: inAxis, rank: x.rank) else {
                preconditionFailure("vmap: in-axis \(inAxis) is out of range for argument \(i) of shape \(x.shape)")
            }
            precondition(size == nil || size == x.shape[axis],
                         "vmap: argument \(i) has \(x.shape[axis]) examples along axis \(inAxis), an earlier one \(size ?? 0)")
            size = x.shape[axis]
            fronts.append(moveAxis(x, from: axis, to: 0))
            batched.append(true)
        }
        guard let size else { preconditionFailure("vmap: no argument has a batch axis (every in-axis is nil)") }
        VmapAxes.stack.append((axisName, size))
        defer { VmapAxes.stack.removeLast() }

        let exampleSpecs = zip(fronts, batched).map { x, b in b ? TensorSpec(Array(x.shape.dropFirst()), x.dtype) : x.spec }
        let graph = trace(exampleSpecs, f)
        let (results, resultBatched) = run(graph, fronts, batched, size: size)

        let axes = outAxes ?? Array(repeating: 0, count: results.count)
        precondition(axes.count == results.count, "vmap: \(axes.count) out-axes for \(results.count) results")
        return zip(results, zip(resultBatched, axes)).map { result, item in
            let (isBatched, outAxis) = item
            // A result that does not depend on the batch is the same for every example.
            let full = isBatched ? result : result.unsqueezed(axis: 0).expanded(to: [size] + result.shape)
            guard let axis = ShapeMath.normalize(axis: outAxis, rank: full.rank) else {
                preconditionFailure("vmap: out-axis \(outAxis) is out of range for a result of shape \(full.shape)")
            }
            return moveAxis(full, from: 0, to: axis)
        }
    }

    /// Runs `graph` on inputs whose batch axis is in front where `batched`; returns the
    /// outputs and which of them carry the batch axis (in front).
    static func run(_ graph: Graph, _ inputs: [Tensor], _ batched: [Bool], size: Int) -> ([Tensor], [Bool]) {
        var values = [Tensor?](repeating: nil, count: graph.specs.count)
        var isBatched = [Bool](repeating: false, count: graph.specs.count)
        for (i, id) in graph.inputs.enumerated() {
            values[id] = inputs[i]
            isBatched[id] = batched[i]
        }
        for (id, constant) in graph.constants { values[id] = constant }
        for state in graph.randomStates {
            // Example b draws what the b-th call of a loop over the examples would draw.
            let first = state.generator.state(advancingBy: state.blocks * size)
            let offsets = Tensor((0..<size).flatMap { [0, 0, Int64($0 * state.blocks)] }, shape: [size, 3])
            values[state.value] = first + offsets
            isBatched[state.value] = true
        }
        for operation in graph.operations {
            let operands = operation.inputs.map { values[$0]! }
            let operandsBatched = operation.inputs.map { isBatched[$0] }
            let outputs: [Tensor]
            if operandsBatched.contains(true) {
                outputs = operation.primitive.batch(BatchedOperands(values: operands, batched: operandsBatched, size: size))
            } else {
                outputs = Dispatch.run(operation.primitive, operands)
            }
            for (id, output) in zip(operation.outputs, outputs) {
                values[id] = output
                isBatched[id] = operandsBatched.contains(true)
            }
        }
        for update in graph.updates where isBatched[update.value] {
            fatalError("vmap: the function assigns values that differ between examples to a captured tensor of shape "
                       + "\(update.target.shape) (a batch norm's running statistics?); one tensor cannot hold them all: "
                       + "update it outside vmap, or use a layer without running statistics")
        }
        graph.applyUpdates(values)
        return (graph.outputs.map { values[$0]! }, graph.outputs.map { isBatched[$0] })
    }

    /// `x` with axis `from` moved to position `to` (a view).
    static func moveAxis(_ x: Tensor, from: Int, to: Int) -> Tensor {
        var order = Array(0..<x.rank)
        order.remove(at: from)
        order.insert(from, at: to)
        return x.permuted(order)
    }
}

/// The axes of the `vmap` calls in progress on this thread, innermost last: the batching
/// rules of named-axis collectives run while their own level is innermost.
public enum VmapAxes {
    private static let key = "Ember.VmapAxes"

    fileprivate static var stack: [(name: String?, size: Int)] {
        get { Thread.current.threadDictionary[key] as? [(name: String?, size: Int)] ?? [] }
        set { Thread.current.threadDictionary[key] = newValue }
    }

    /// The name of the innermost `vmap` in progress (nil when it has none or none runs).
    public static var innermostName: String? { stack.last?.name }

    /// The number of examples of the innermost `vmap` in progress named `name`.
    public static func size(of name: String) -> Int? { stack.last { $0.name == name }?.size }
}
