/// Evaluates, once at compile time, every operation whose inputs are all constants, and
/// makes its results constants. Only correct when captured tensors are fixed values
/// (`CompileOptions.foldConstants`): a folded result does not follow a later in-place
/// update of the tensors it was computed from.
struct ConstantFolding: GraphPass {
    var name: String { "constant folding" }

    func run(_ graph: Graph) -> Graph {
        var result = graph
        var kept = [Graph.Operation]()
        eagerly {
            for operation in graph.operations {
                let values = operation.inputs.map { result.constants[$0] }
                guard values.allSatisfy({ $0 != nil && !$0!.isAbstract }) else {
                    kept.append(operation)
                    continue
                }
                let folded = Dispatch.evaluate(operation.primitive, values.map { $0! })
                for (id, tensor) in zip(operation.outputs, folded) { result.constants[id] = tensor }
            }
        }
        result.operations = kept
        return result
    }
}
