/// Merges a convolution with the activation that alone reads its result (a unary operation,
/// or a fused chain of them), or with the residual add and activations that follow it
/// (`relu(conv(x) + shortcut)`), into one `fused` operation headed by the convolution: the
/// rest is applied as the result is written (oneDNN post-ops on the CPU) instead of in
/// another pass over memory. Runs after elementwise fusion, which leaves a lone activation
/// unfused and builds the chains.
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
            // Of two convolutions added together (a projection shortcut), the first merges.
            guard spec.dtype == .float32, uses[result] == 1, let next = consumer[result], merged[next] == nil else { continue }
            let follower = graph.operations[next]
            var inputs = conv.inputs
            var program: FusedProgram
            if let activation = activation(follower, reading: result, domain: spec.shape) {
                program = activation
            } else if let (residual, chain) = residualChain(follower, reading: result, graph) {
                program = FusedProgram(domain: spec.shape, operandCount: 2,
                                       instructions: [.binary(.add, 0, 1)] + chain.enumerated().map { .unary($1, 2 + $0) },
                                       outputs: [2 + chain.count])
                inputs.append(residual)
            } else {
                continue
            }
            program.head = .conv2d(config, hasBias: conv.inputs.count == 3)
            merged[next] = Graph.Operation(primitive: .fused(program), inputs: inputs, outputs: follower.outputs)
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

    /// The other value added to `value` and the activations after, when `operation` is an
    /// add of two values of one shape, alone or fused with activations after it.
    func residualChain(_ operation: Graph.Operation, reading value: Int, _ graph: Graph) -> (residual: Int, chain: [UnaryOp])? {
        let chain: [UnaryOp]
        switch operation.primitive {
        case .binary(.add): chain = []
        case .fused(let program) where program.head == nil:
            guard let (_, activations) = program.residualChain, activations.allSatisfy(ConvolutionFusion.activations.contains)
            else { return nil }
            chain = activations
        default: return nil
        }
        guard operation.inputs.count == 2, operation.inputs.filter({ $0 == value }).count == 1,
              let residual = operation.inputs.first(where: { $0 != value }),
              graph.specs[residual] == graph.specs[value] else { return nil }
        return (residual, chain)
    }
}
