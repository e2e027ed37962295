/// Merges operations that apply the same primitive to the same values (operands of
/// commutative operations in either order), so each is computed once. With
/// `mergeEqualConstants` (when captured values are fixed at compile time), small constants
/// with identical contents become one value first.
struct CommonSubexpressionElimination: GraphPass {
    var mergeEqualConstants = false
    var name: String { "common-subexpression elimination" }

    struct Key: Hashable {
        var primitive: Primitive
        var inputs: [Int]
    }

    static func isCommutative(_ primitive: Primitive) -> Bool {
        switch primitive {
        case .binary(let op): return [.add, .mul, .maximum, .minimum, .logicalAnd, .logicalOr, .logicalXor].contains(op)
        case .compare(let op): return op == .equal || op == .notEqual
        default: return false
        }
    }

    func run(_ graph: Graph) -> Graph {
        var result = graph
        var substitutions = [Int: Int]()
        if mergeEqualConstants {
            // Contents as bit patterns, so that 0 and -0 (and NaNs) stay apart.
            var seen = [[UInt64]: Int]()
            for (id, tensor) in graph.constants.sorted(by: { $0.key < $1.key }) where tensor.count <= 64 && !tensor.isAbstract {
                let key = [UInt64(tensor.dtype.rawValue)] + tensor.shape.map { UInt64($0) } + [UInt64.max]
                    + tensor.doubles.map(\.bitPattern)
                if let first = seen[key] {
                    substitutions[id] = first
                } else {
                    seen[key] = id
                }
            }
            result.substitute(substitutions)
        }
        var firstOccurrence = [Key: [Int]]()
        var kept = [Graph.Operation]()
        var renamed = [Int: Int]()
        for var operation in result.operations {
            operation.inputs = operation.inputs.map { renamed[$0] ?? $0 }
            var key = Key(primitive: operation.primitive, inputs: operation.inputs)
            if CommonSubexpressionElimination.isCommutative(operation.primitive) { key.inputs.sort() }
            if let outputs = firstOccurrence[key] {
                for (duplicate, original) in zip(operation.outputs, outputs) { renamed[duplicate] = original }
            } else {
                firstOccurrence[key] = operation.outputs
                kept.append(operation)
            }
        }
        result.operations = kept
        result.outputs = result.outputs.map { renamed[$0] ?? $0 }
        for k in result.updates.indices { result.updates[k].value = renamed[result.updates[k].value] ?? result.updates[k].value }
        result.constants = result.constants.filter { substitutions[$0.key] == nil }
        return result
    }
}
