/// Merges a convolution with the activation that alone reads its result (a unary operation,
/// or a fused chain of them) into one `fused` operation headed by the convolution, so the
/// activation is applied as the result is written (oneDNN post-ops on the CPU) instead of
/// in another pass over memory. Runs after elementwise fusion, which leaves a lone
/// activation unfused and builds the chains.
struct ConvolutionFusion: GraphPass {
    var name: String { "convolution fusion" }

    /// Activations a convolution applies as it writes its result.
    static let activations: Set<UnaryOp> = [.relu, .tanh, .sigmoid, .gelu, .exp, .abs, .sqrt]

    func run(_ graph: Graph) -> Graph {
        let uses = graph.useCounts
        var consumer = [Int: Int]()
        for (index, operation) in graph.operations.enumerated() {
            for id in operation.inputs { consumer[id] = index }
        }
        var merged = [Int: Graph.Operation]()   // consumer index -> the fused operation
        var removed = Set<Int>()
        for (index, conv) in graph.operations.enumerated() {
            guard case .conv2d(let config) = conv.primitive else { continue }
            let result = conv.outputs[0]
            let spec = graph.specs[result]
            guard spec.dtype == .float32, uses[result] == 1, let next = consumer[result],
                  var program = activation(graph.operations[next], reading: result, domain: spec.shape) else { continue }
            program.head = .conv2d(config, hasBias: conv.inputs.count == 3)
            merged[next] = Graph.Operation(primitive: .fused(program), inputs: conv.inputs, outputs: graph.operations[next].outputs)
            removed.insert(index)
        }
        var result = graph
        result.operations = graph.operations.enumerated().compactMap { index, operation in
            removed.contains(index) ? nil : merged[index] ?? operation
        }
        return result
    }

    /// `operation` as a one-operand program over `value`, when it is a chain of activations
    /// reading only that value.
    func activation(_ operation: Graph.Operation, reading value: Int, domain: [Int]) -> FusedProgram? {
        guard operation.inputs == [value] else { return nil }
        switch operation.primitive {
        case .unary(let op) where ConvolutionFusion.activations.contains(op):
            return FusedProgram(domain: domain, operandCount: 1, instructions: [.unary(op, 0)], outputs: [1])
        case .fused(let program) where program.head == nil && program.domain == domain:
            guard let chain = program.unaryChain, chain.allSatisfy(ConvolutionFusion.activations.contains) else { return nil }
            return program
        default:
            return nil
        }
    }
}
