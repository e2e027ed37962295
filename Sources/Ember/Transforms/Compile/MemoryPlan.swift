/// Assigns the intermediate values of a graph to a few reusable buffers: a buffer whose
/// value (and every view of it) has been read for the last time takes the next value that
/// needs one. Graph outputs get fresh memory on every call, so what the caller receives
/// never aliases a reused buffer, nor another output; inputs and constants are not ours.
/// A convolution that adds its result to a residual read there for the last time writes
/// into the residual's buffer (its kernel accumulates in place).
struct MemoryPlan: CustomStringConvertible {
    /// The layouts the executor gives values: a buffer is taken over in place only by a
    /// value of the same layout.
    let layouts: LayoutPlan
    /// The buffer slot of each value computed into a reused buffer.
    private(set) var slotOf: [Int: Int] = [:]
    /// Bytes of each slot (the largest value it holds).
    private(set) var slotSizes: [Int] = []
    /// Values computed into memory of their own (what running without a plan allocates).
    private(set) var computedValues = 0
    /// Values computed into the buffer of an input read there for the last time.
    private(set) var inPlaceValues = 0

    /// Movement operations that return a view of their input when its layout allows.
    static func mayBeView(_ primitive: Primitive) -> Bool {
        switch primitive {
        case .reshape, .permute, .expand, .slice, .stopGradient: return true
        default: return false
        }
    }

    /// The input whose memory the output of `operation` may be computed into: a
    /// convolution's residual, which its kernel reads element by element before writing,
    /// unless the convolution reads it too.
    static func inPlaceInput(_ operation: Graph.Operation) -> Int? {
        guard case .fused(let program) = operation.primitive, program.head != nil,
              let (operand, _) = program.residualChain else { return nil }
        let residual = operation.inputs[program.headInputCount + operand - 1]
        return operation.inputs.prefix(program.headInputCount).contains(residual) ? nil : residual
    }

    init(_ graph: Graph) {
        layouts = LayoutPlan(graph)
        // The value whose memory each value may share (itself unless it is a view).
        var root = Array(0..<graph.specs.count)
        for operation in graph.operations where MemoryPlan.mayBeView(operation.primitive) {
            root[operation.outputs[0]] = root[operation.inputs[0]]
        }
        var escaping = Set(graph.results.map { root[$0] })
        escaping.formUnion(graph.sources)
        var lastUse = [Int: Int]()
        for (index, operation) in graph.operations.enumerated() {
            for id in operation.outputs + operation.inputs { lastUse[root[id]] = index }
        }
        var free = [Int]()
        var occupant = [Int: Int]()   // root -> slot
        for (index, operation) in graph.operations.enumerated() {
            if !MemoryPlan.mayBeView(operation.primitive) {
                var outputs = operation.outputs
                if let input = MemoryPlan.inPlaceInput(operation), let output = outputs.first,
                   outputs.count == 1, !escaping.contains(output), root[input] == input, lastUse[input] == index,
                   graph.specs[input] == graph.specs[output],
                   layouts.channelsLast.contains(input) == layouts.channelsLast.contains(output),
                   let slot = occupant.removeValue(forKey: input) {
                    computedValues += 1
                    inPlaceValues += 1
                    slotOf[output] = slot
                    occupant[output] = slot
                    outputs = []
                }
                for id in outputs {
                    computedValues += 1
                    guard !escaping.contains(id) else { continue }
                    let bytes = ShapeMath.count(graph.specs[id].shape) * graph.specs[id].dtype.byteSize
                    // Best fit among the free slots; else grow the largest free one; else a new slot.
                    let fitting = free.filter { slotSizes[$0] >= bytes }.min { slotSizes[$0] < slotSizes[$1] }
                    let slot: Int
                    if let fit = fitting ?? free.max(by: { slotSizes[$0] < slotSizes[$1] }) {
                        slot = fit
                        free.removeAll { $0 == fit }
                        slotSizes[slot] = Swift.max(slotSizes[slot], bytes)
                    } else {
                        slot = slotSizes.count
                        slotSizes.append(bytes)
                    }
                    slotOf[id] = slot
                    occupant[id] = slot
                }
            }
            // Buffers whose last reader was this operation are free for the next one.
            for id in Set(operation.outputs + operation.inputs) where lastUse[root[id]] == index {
                if let slot = occupant.removeValue(forKey: root[id]) { free.append(slot) }
            }
        }
    }

    var description: String {
        let megabytes = Double(slotSizes.reduce(0, +)) / 1_048_576
        return "memory plan: \(computedValues) computed values in \(slotSizes.count) reused buffers "
            + "(\(String(format: "%.2f", megabytes)) MiB, \(inPlaceValues) in place) plus \(computedValues - slotOf.count) returned"
    }
}
