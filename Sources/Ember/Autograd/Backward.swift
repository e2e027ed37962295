import Foundation

/// Reverse-mode propagation over the tape.
enum Backward {
    /// Propagates `seeds` (one cotangent per root) back through the graph. With `targets`
    /// nil, gradients reaching leaves are accumulated into their `grad`; otherwise the
    /// cotangents arriving at each target are returned and no `grad` is touched. With
    /// `createGraph`, the derivative computations are themselves recorded, so the results
    /// can be differentiated again.
    static func run(roots: [Tensor], seeds: [Tensor], targets: [(node: Node, output: Int)]?,
                    createGraph: Bool) -> [Tensor?] {
        var rootEdges = [(node: Node, output: Int)?]()
        for root in roots { rootEdges.append(root.gradientEdge) }

        // Reachable nodes in depth-first post-order; reversed, it is a topological order.
        var order = [Node]()
        var visited = Set<ObjectIdentifier>()
        var stack = [(Node, Int)]()
        for case let (node, _)? in rootEdges where visited.insert(ObjectIdentifier(node)).inserted {
            stack.append((node, 0))
            while let (current, next) = stack.last {
                if next < current.edges.count {
                    stack[stack.count - 1].1 += 1
                    if let (child, _) = current.edges[next], visited.insert(ObjectIdentifier(child)).inserted {
                        stack.append((child, 0))
                    }
                } else {
                    order.append(current)
                    stack.removeLast()
                }
            }
        }

        // When gradients are wanted for targets only, skip nodes that lead to none of them.
        var needed = Set<ObjectIdentifier>()
        var targetSlots = [ObjectIdentifier: [(output: Int, slot: Int)]]()
        if let targets {
            for (slot, target) in targets.enumerated() {
                targetSlots[ObjectIdentifier(target.node), default: []].append((target.output, slot))
            }
            for node in order {
                let id = ObjectIdentifier(node)
                if targetSlots[id] != nil || node.edges.contains(where: { $0.map { needed.contains(ObjectIdentifier($0.node)) } ?? false }) {
                    needed.insert(id)
                }
            }
        }

        var pending = [ObjectIdentifier: [Tensor?]]()
        func send(_ gradient: Tensor, to edge: (node: Node, output: Int)) {
            let id = ObjectIdentifier(edge.node)
            var slots = pending[id] ?? Array(repeating: nil, count: edge.node.outputCount)
            slots[edge.output] = slots[edge.output].map { $0 + gradient } ?? gradient
            pending[id] = slots
        }

        var results = [Tensor?](repeating: nil, count: targets?.count ?? 0)
        let callbacks = BackwardCallbacks.push()
        defer { callbacks.finish() }
        withGradEnabled(createGraph) {
            for (edge, seed) in zip(rootEdges, seeds) {
                if let edge { send(seed, to: edge) }
            }
            for node in order.reversed() {
                let id = ObjectIdentifier(node)
                guard var cotangents = pending.removeValue(forKey: id) else { continue }
                if targets != nil && !needed.contains(id) { continue }
                for output in 0..<node.outputCount {
                    guard var g = cotangents[output] else { continue }
                    for hook in node.hooks[output] {
                        if let replaced = hook(g) { g = replaced }
                    }
                    cotangents[output] = g
                }
                for (output, slot) in targetSlots[id] ?? [] { results[slot] = cotangents[output] }

                switch node.kind {
                case .accumulate:
                    guard targets == nil, let leaf = node.leaf, let g = cotangents[0] else { continue }
                    let value = createGraph ? g : g.detached()
                    leaf.grad = leaf.grad.map { $0 + value } ?? value
                case .operation(let primitive):
                    let wanted = node.edges.map { edge in
                        guard let edge else { return false }
                        return targets == nil || needed.contains(ObjectIdentifier(edge.node))
                    }
                    guard wanted.contains(true) else { continue }
                    // Outputs that received no cotangent contribute zero.
                    if !primitive.takesMissingCotangents, cotangents.contains(where: { $0 == nil }) {
                        let specs = Dispatch.checkedSpecs(primitive, node.inputs)
                        for i in 0..<cotangents.count where cotangents[i] == nil {
                            cotangents[i] = Tensor.zeros(specs[i].shape, dtype: specs[i].dtype)
                        }
                    }
                    let inputGradients = primitive.vjp(node.inputs, cotangents, node.saved, wanted)
                    for (i, edge) in node.edges.enumerated() where wanted[i] {
                        if let edge, let g = inputGradients[i] { send(g, to: edge) }
                    }
                }
            }
        }
        return results
    }
}

/// The functions queued during the backward pass running on this thread.
final class BackwardCallbacks {
    private static let key = "ember.backwardCallbacks"
    private var queued: [() -> Void] = []
    private let outer: BackwardCallbacks?

    private init(outer: BackwardCallbacks?) { self.outer = outer }

    static var current: BackwardCallbacks? { Thread.current.threadDictionary[key] as? BackwardCallbacks }

    static func push() -> BackwardCallbacks {
        let frame = BackwardCallbacks(outer: current)
        Thread.current.threadDictionary[key] = frame
        return frame
    }

    /// Runs the queued functions in order (including any they queue), then restores the
    /// enclosing pass's queue.
    func finish() {
        while !queued.isEmpty { queued.removeFirst()() }
        Thread.current.threadDictionary[Self.key] = outer
    }

    func append(_ callback: @escaping () -> Void) { queued.append(callback) }
}

/// Runs `callback` once the backward pass in progress on this thread has propagated every
/// gradient (PyTorch's `queue_callback`): a gradient hook uses it for work that needs the
/// whole pass done, as DistributedDataParallel waits there for its gradient allreduces.
public func queueBackwardCallback(_ callback: @escaping () -> Void) {
    guard let frame = BackwardCallbacks.current else {
        preconditionFailure("queueBackwardCallback: no backward pass is running on this thread (call it from a gradient hook)")
    }
    frame.append(callback)
}

extension Tensor {
    /// Computes the gradient of this tensor with respect to every leaf that requires grad and
    /// accumulates it into the leaf's `grad`. A non-scalar tensor needs `gradient`, the
    /// cotangent of the same shape. `createGraph` records the computation for higher derivatives.
    public func backward(_ gradient: Tensor? = nil, createGraph: Bool = false) {
        precondition(requiresGrad, "backward: the tensor does not require grad (no input had requiresGrad set)")
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape,
                         "backward: the gradient's shape \(gradient.shape) must equal the tensor's shape \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward: a gradient must be given for a non-scalar tensor of shape \(shape)")
            seed = Tensor.ones(shape, dtype: dtype)
        }
        _ = Backward.run(roots: [self], seeds: [seed], targets: nil, createGraph: createGraph)
    }
}

/// The gradients of `outputs` (weighted by `gradOutputs`, ones for scalars by default) with
/// respect to `inputs`, without touching any `grad` (torch.autograd.grad). An input that the
/// outputs do not depend on gets zeros.
public func gradients(of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                      createGraph: Bool = false) -> [Tensor] {
    let seeds = gradOutputs ?? outputs.map { output in
        precondition(output.count == 1, "gradients: gradOutputs must be given for non-scalar output of shape \(output.shape)")
        return Tensor.ones(output.shape, dtype: output.dtype)
    }
    var targets = [(node: Node, output: Int)]()
    for input in inputs {
        guard let edge = input.gradientEdge else {
            preconditionFailure("gradients: an input does not require grad")
        }
        targets.append(edge)
    }
    let differentiable = outputs.indices.filter { outputs[$0].requiresGrad }
    let found = Backward.run(roots: differentiable.map { outputs[$0] }, seeds: differentiable.map { seeds[$0] },
                             targets: targets, createGraph: createGraph)
    return zip(found, inputs).map { g, input in g ?? Tensor.zeros(input.shape, dtype: input.dtype) }
}
