import Foundation

/// Runs an optimized graph with its memory plan: each kernel writes into its planned
/// buffer, and the buffers are kept between calls (a call that finds them in use by
/// another thread allocates its own). Memory for returned values is recycled too, but
/// only once the caller holds no tensor on it any more, so results never change under
/// the caller; fresh memory would cost a page fault per page on every call. Image batches
/// between convolutions are laid out channels-last (see `LayoutPlan`).
final class Executor: @unchecked Sendable {
    let graph: Graph
    let plan: MemoryPlan
    var layouts: LayoutPlan { plan.layouts }
    /// Per operation, the positions of inputs that are constants fixed at compile time
    /// (`foldConstants`): the backend may keep work derived from them.
    let fixedInputs: [Set<Int>]
    private var kept: Memory?
    private let lock = NSLock()

    struct Memory {
        var slots: [Storage]
        /// The storage of the last result of each value computed outside the slots.
        var returned: [Int: Storage]
    }

    init(_ graph: Graph, _ plan: MemoryPlan, fixedConstants: Bool = false) {
        self.graph = graph
        self.plan = plan
        fixedInputs = graph.operations.map { operation in
            fixedConstants ? Set(operation.inputs.indices.filter { graph.constants[operation.inputs[$0]] != nil }) : []
        }
    }

    /// Whether a call must go through the dispatcher instead: while tracing (the caller is
    /// itself being traced) or when the autograd tape has to record the operations.
    static func mustDispatch(_ arguments: [Tensor], _ graph: Graph) -> Bool {
        if Tracer.current != nil { return true }
        guard isGradEnabled else { return false }
        return arguments.contains { $0.requiresGrad } || graph.constants.values.contains { $0.requiresGrad }
    }

    func run(_ arguments: [Tensor]) -> [Tensor] {
        let backend = arguments.first?.storage.backend ?? defaultBackend
        var memory = takeMemory(backend)
        var values = graph.boundValues(arguments, caller: "compiled function")
        for (index, operation) in graph.operations.enumerated() {
            let inputs = operation.inputs.map { values[$0]! }
            if MemoryPlan.mayBeView(operation.primitive), let view = Movement.view(operation.primitive, inputs[0]) {
                values[operation.outputs[0]] = view
                continue
            }
            let outputs = operation.outputs.map { id -> Tensor in
                let spec = graph.specs[id]
                let storage: Storage
                if let slot = plan.slotOf[id] {
                    storage = memory.slots[slot]
                } else if memory.returned[id] != nil, isKnownUniquelyReferenced(&memory.returned[id]!) {
                    storage = memory.returned[id]!
                } else {
                    storage = backend.allocate(byteCount: ShapeMath.count(spec.shape) * spec.dtype.byteSize)
                    memory.returned[id] = storage
                }
                return Tensor(storage: storage, shape: spec.shape, strides: layouts.strides(id, spec.shape), offset: 0,
                              dtype: spec.dtype)
            }
            Dispatch.launch(operation.primitive, inputs, outputs, fixed: fixedInputs[index])
            for (id, output) in zip(operation.outputs, outputs) { values[id] = output }
        }
        graph.applyUpdates(values)
        let results = graph.outputs.map { values[$0]! }
        values.removeAll()
        lock.withLock { kept = memory }
        return results
    }

    private func takeMemory(_ backend: any Backend) -> Memory {
        let memory: Memory? = lock.withLock {
            defer { kept = nil }
            return kept
        }
        if let memory, (memory.slots + memory.returned.values).allSatisfy({ $0.backend === backend }) { return memory }
        return Memory(slots: plan.slotSizes.map { backend.allocate(byteCount: $0) }, returned: [:])
    }
}
