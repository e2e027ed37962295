/// Under autocast a bfloat16 convolution's result is often widened at once (batch norm and
/// the residual stream are float32): `cast(conv(x, w), .float32)`. oneDNN's bf16
/// convolutions can write float32 themselves, so the two become one convolution with a
/// float32 result, saving the pass over memory the cast costs; batch-norm folding and
/// convolution fusion, which work on float32 results, then see the convolution directly.
/// Runs before both.
struct HalfConvolutionOutput: GraphPass {
    var name: String { "bf16 convolutions write float32" }

    func run(_ graph: Graph) -> Graph {
        let uses = graph.useCounts
        var reader = [Int: Int]()
        for (index, operation) in graph.operations.enumerated() {
            for id in operation.inputs { reader[id] = index }
        }
        var widened = [Int: Graph.Operation]()   // convolution index -> the convolution writing float32
        var removed = Set<Int>()
        for (index, conv) in graph.operations.enumerated() {
            guard case .conv2d = conv.primitive, conv.inputs.allSatisfy({ graph.specs[$0].dtype == .bfloat16 }),
                  uses[conv.outputs[0]] == 1, let next = reader[conv.outputs[0]],
                  case .cast(.float32) = graph.operations[next].primitive else { continue }
            widened[index] = Graph.Operation(primitive: conv.primitive, inputs: conv.inputs, outputs: graph.operations[next].outputs)
            removed.insert(next)
        }
        var result = graph
        result.operations = graph.operations.enumerated().compactMap { index, operation in
            removed.contains(index) ? nil : widened[index] ?? operation
        }
        return result
    }
}
