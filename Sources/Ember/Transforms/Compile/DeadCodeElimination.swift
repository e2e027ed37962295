/// Removes operations none of whose outputs reach a graph output, and constants nothing
/// reads any more.
struct DeadCodeElimination: GraphPass {
    var name: String { "dead-code elimination" }

    func run(_ graph: Graph) -> Graph {
        var live = Set(graph.results)
        var kept = [Graph.Operation]()
        for operation in graph.operations.reversed() where operation.outputs.contains(where: live.contains) {
            kept.append(operation)
            live.formUnion(operation.inputs)
        }
        var result = graph
        result.operations = kept.reversed()
        result.constants = graph.constants.filter { live.contains($0.key) }
        return result
    }
}
