/// Marks float32 3×3 stride-1 convolutions to run with Winograd's algorithm
/// (`ConvConfig.winograd`, `CompileOptions.winograd`). Runs before convolution fusion, so a
/// fused convolution keeps the mark; the backend computes directly where it has no Winograd
/// kernel for the shape.
struct WinogradConvolution: GraphPass {
    var name: String { "winograd convolution" }

    func run(_ graph: Graph) -> Graph {
        var result = graph
        for (index, operation) in graph.operations.enumerated() {
            guard case .conv2d(var config) = operation.primitive, graph.specs[operation.outputs[0]].dtype == .float32,
                  config.stride == [1, 1], config.dilation == [1, 1], config.groups == 1,
                  graph.specs[operation.inputs[1]].shape.suffix(2) == [3, 3] else { continue }
            config.winograd = true
            result.operations[index].primitive = .conv2d(config)
        }
        return result
    }
}
