/// Groups chains of elementwise operations over one shape into single `fused` operations
/// whose kernel makes one pass over memory: values used only inside a group stay in
/// registers. A reduction or layer normalization whose input is a group's only result
/// becomes the group's tail, so that result is never written out either.
struct ElementwiseFusion: GraphPass {
    var name: String { "elementwise fusion" }

    final class Group {
        /// Position in the pass's list of groups.
        let index: Int
        let domain: [Int]
        /// The floating-point type computed in; nil while only bool operations joined.
        var compute: DType?
        var members: [Int] = []
        /// The reduction or layer normalization absorbed as a tail.
        var tail: Int?
        /// Groups whose results its members read, directly or through other operations.
        var dependencies = Set<Int>()
        init(index: Int, domain: [Int], compute: DType?) {
            self.index = index
            self.domain = domain
            self.compute = compute
        }
    }

    /// Whether the fused kernel can run an operation, and the floating-point type it
    /// computes in (nil for logic on bools only). One float type per operation: casts
    /// between float types and anything on integers or half types stay unfused.
    static func fusion(_ operation: Graph.Operation, _ specs: [TensorSpec]) -> (fusible: Bool, compute: DType?) {
        let inputs = operation.inputs.map { specs[$0].dtype }
        let output = specs[operation.outputs[0]].dtype
        func float(_ t: DType) -> Bool { t == .float32 || t == .float64 }
        let floats = (inputs + [output]).filter { $0 != .bool }
        guard floats.allSatisfy(float), Set(floats).count <= 1 else { return (false, nil) }
        let compute = floats.first
        switch operation.primitive {
        // float32 GELU stays a kernel of its own: oneDNN's one-pass GELU is faster than the
        // fused loop's erf, and the memory pass it costs is cheaper than the difference.
        case .unary(.gelu) where compute == .float32:
            return (false, nil)
        case .unary(let op):
            return (inputs[0] != .bool || op == .logicalNot, compute)
        case .binary(let op):
            return (inputs[0] != .bool || [.logicalAnd, .logicalOr, .logicalXor].contains(op), compute)
        case .compare, .select, .cast:
            return (true, compute)
        default:
            return (false, nil)
        }
    }

    func run(_ graph: Graph) -> Graph {
        let specs = graph.specs
        var groupOf = [Int: Group]()          // operation index -> group
        var producer = [Int: Int]()           // value -> operation index
        var reach = [Int: Set<Int>]()         // value -> groups it was computed from
        var groups = [Group]()
        var latest = [[Int]: Int]()           // domain -> the group created last for it

        // Whether a value computed from `reached` groups depends on group `target`; groups
        // grow, so their own dependencies are followed at the time of asking.
        func depends(_ reached: Set<Int>, on target: Int) -> Bool {
            var seen = Set<Int>(), stack = Array(reached)
            while let g = stack.popLast() {
                if g == target { return true }
                if seen.insert(g).inserted { stack.append(contentsOf: groups[g].dependencies) }
            }
            return false
        }

        for (index, operation) in graph.operations.enumerated() {
            var dependsOn = Set<Int>()
            for id in operation.inputs { dependsOn.formUnion(reach[id] ?? []) }
            let (fusible, compute) = ElementwiseFusion.fusion(operation, specs)
            let domain = specs[operation.outputs[0]].shape
            if fusible {
                // Join a producer's group of the same shape and type, else the latest such
                // group (a sibling), unless a value from outside the group that depends on
                // it is read (that would be a cycle).
                let candidates = operation.inputs.compactMap { producer[$0].flatMap { groupOf[$0]?.index } } + (latest[domain].map { [$0] } ?? [])
                let chosen = candidates.first { g in
                    let group = groups[g]
                    guard group.domain == domain, group.compute == nil || compute == nil || group.compute == compute else { return false }
                    return operation.inputs.allSatisfy { id in
                        producer[id].flatMap { groupOf[$0] } === group || !depends(reach[id] ?? [], on: g)
                    }
                }
                let g = chosen ?? groups.count
                if chosen == nil {
                    groups.append(Group(index: g, domain: domain, compute: compute))
                    latest[domain] = g
                }
                let group = groups[g]
                group.compute = group.compute ?? compute
                group.members.append(index)
                for id in operation.inputs where producer[id].flatMap({ groupOf[$0] }) !== group {
                    group.dependencies.formUnion(reach[id] ?? [])
                }
                groupOf[index] = group
                dependsOn.insert(g)
            }
            for id in operation.outputs {
                producer[id] = index
                reach[id] = dependsOn
            }
        }
        attachTails(graph, groupOf, producer)
        return emit(graph, groups, groupOf)
    }

    /// Values of a group read outside it (by other operations or as graph outputs).
    static func results(of group: Group, in graph: Graph) -> [Int] {
        let members = Set(group.members)
        var produced = [Int]()
        for index in group.members { produced.append(contentsOf: graph.operations[index].outputs) }
        var external = Set(graph.results)
        for (index, operation) in graph.operations.enumerated() where !members.contains(index) {
            external.formUnion(operation.inputs)
        }
        return produced.filter(external.contains)
    }

    func attachTails(_ graph: Graph, _ groupOf: [Int: Group], _ producer: [Int: Int]) {
        let uses = graph.useCounts
        for (index, operation) in graph.operations.enumerated() {
            switch operation.primitive {
            case .reduce: guard graph.specs[operation.inputs[0]].dtype.isFloatingPoint else { continue }
            // As a tail it reads the row from cache: W8 ran 2-2.5x faster than the fused
            // chain written out and normalized by oneDNN.
            case .layerNorm: break
            default: continue
            }
            let input = operation.inputs[0]
            guard let group = producer[input].flatMap({ groupOf[$0] }), group.tail == nil, uses[input] == 1,
                  ElementwiseFusion.results(of: group, in: graph) == [input] else { continue }
            group.tail = index
        }
    }

    /// The fused operation standing for a group (its results keep their value numbers).
    func fusedOperation(_ group: Group, _ graph: Graph) -> Graph.Operation {
        let results = ElementwiseFusion.results(of: group, in: graph)
        let members = group.members.map { graph.operations[$0] }
        var produced = Set<Int>()
        for member in members { produced.formUnion(member.outputs) }
        var operands = [Int]()
        for member in members {
            for id in member.inputs where !produced.contains(id) && !operands.contains(id) { operands.append(id) }
        }
        var register = [Int: Int]()
        for (k, id) in operands.enumerated() { register[id] = k }
        var instructions = [FusedProgram.Instruction]()
        for member in members {
            let r = member.inputs.map { register[$0]! }
            switch member.primitive {
            case .unary(let op): instructions.append(.unary(op, r[0]))
            case .binary(let op): instructions.append(.binary(op, r[0], r[1]))
            case .compare(let op): instructions.append(.compare(op, r[0], r[1]))
            case .select: instructions.append(.select(r[0], r[1], r[2]))
            case .cast(let t): instructions.append(.cast(t, r[0]))
            default: preconditionFailure("elementwise fusion: \(member.primitive.name) is not elementwise")
            }
            register[member.outputs[0]] = operands.count + instructions.count - 1
        }
        var program = FusedProgram(domain: group.domain, operandCount: operands.count, instructions: instructions,
                                   outputs: results.map { register[$0]! })
        var inputs = operands
        var outputs = results
        if let tailIndex = group.tail {
            let tail = graph.operations[tailIndex]
            outputs = tail.outputs
            switch tail.primitive {
            case .reduce(let op, let axes, let keep): program.tail = .reduce(op, axes: axes, keepDims: keep)
            case .layerNorm(let axes, let e):
                program.tail = .layerNorm(axes: axes, epsilon: e)
                inputs += tail.inputs.suffix(2)
            default: preconditionFailure("elementwise fusion: \(tail.primitive.name) cannot be a tail")
            }
        }
        return Graph.Operation(primitive: .fused(program), inputs: inputs, outputs: outputs)
    }

    /// The new operation list in a topological order that follows the original one: a
    /// group is placed once everything it reads is computed.
    func emit(_ graph: Graph, _ groups: [Group], _ groupOf: [Int: Group]) -> Graph {
        var tailOf = [Int: Group]()
        for group in groups { if let t = group.tail { tailOf[t] = group } }
        var nodes = [(position: Int, operation: Graph.Operation)]()
        for (index, operation) in graph.operations.enumerated() {
            if let group = groupOf[index] {
                guard index == group.members[0] else { continue }
                if group.members.count == 1 && group.tail == nil {
                    nodes.append((index, operation))
                } else {
                    nodes.append((index, fusedOperation(group, graph)))
                }
            } else if tailOf[index] == nil {
                nodes.append((index, operation))
            }
        }
        var available = graph.sources
        var pending = nodes
        var ordered = [Graph.Operation]()
        while !pending.isEmpty {
            guard let next = pending.firstIndex(where: { $0.operation.inputs.allSatisfy(available.contains) }) else {
                preconditionFailure("elementwise fusion: the fused graph has a cycle")
            }
            let node = pending.remove(at: next)
            ordered.append(node.operation)
            available.formUnion(node.operation.outputs)
        }
        var result = graph
        result.operations = ordered
        return result
    }
}
