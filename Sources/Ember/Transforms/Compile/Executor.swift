import Foundation

/// Runs an optimized graph with its memory plan: each kernel writes into its planned
/// buffer, and the buffers are kept between calls (a call that finds them in use by
/// another thread allocates its own).
final class Executor: @unchecked Sendable {
    let graph: Graph
    let plan: MemoryPlan
    private var arena: [Storage]?
    private let lock = NSLock()

    init(_ graph: Graph, _ plan: MemoryPlan) {
        self.graph = graph
        self.plan = plan
    }

    /// Whether a call must go through the dispatcher instead: while tracing (the caller is
    /// itself being traced) or when the autograd tape has to record the operations.
    static func mustDispatch(_ arguments: [Tensor], _ graph: Graph) -> Bool {
        if Tracer.current != nil { return true }
        guard isGradEnabled else { return false }
        return arguments.contains { $0.requiresGrad } || graph.constants.values.contains { $0.requiresGrad }
    }

    func run(_ arguments: [Tensor]) -> [Tensor] {
        precondition(arguments.count == graph.inputs.count,
                     "compiled function: expected \(graph.inputs.count) inputs, got \(arguments.count)")
        let backend = arguments.first?.storage.backend ?? defaultBackend
        let buffers = takeArena(backend)
        var values = [Tensor?](repeating: nil, count: graph.specs.count)
        for (argument, id) in zip(arguments, graph.inputs) { values[id] = argument }
        for (id, constant) in graph.constants { values[id] = constant }
        for operation in graph.operations {
            let inputs = operation.inputs.map { values[$0]! }
            if MemoryPlan.mayBeView(operation.primitive), let view = Movement.view(operation.primitive, inputs[0]) {
                values[operation.outputs[0]] = view
                continue
            }
            let outputs = operation.outputs.map { id -> Tensor in
                let spec = graph.specs[id]
                guard let slot = plan.slotOf[id] else { return Tensor(uninitializedShape: spec.shape, dtype: spec.dtype, on: backend) }
                return Tensor(storage: buffers[slot], shape: spec.shape, strides: ShapeMath.contiguousStrides(spec.shape),
                              offset: 0, dtype: spec.dtype)
            }
            backend.execute(operation.primitive, inputs: inputs, outputs: outputs)
            for (id, output) in zip(operation.outputs, outputs) { values[id] = output }
        }
        let results = graph.outputs.map { values[$0]! }
        lock.withLock { arena = buffers }
        return results
    }

    private func takeArena(_ backend: any Backend) -> [Storage] {
        let kept: [Storage]? = lock.withLock {
            defer { arena = nil }
            return arena
        }
        if let kept, kept.first.map({ $0.backend === backend }) ?? true { return kept }
        return plan.slotSizes.map { backend.allocate(byteCount: $0) }
    }
}
