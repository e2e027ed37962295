/// Folds the per-channel affine chain that follows a convolution (eval-mode batch
/// normalization: subtract the running mean, scale, add the bias; any sequence of adds,
/// subtracts, multiplies and divides by constant per-channel or scalar tensors) into the
/// convolution's weight and bias, for inference. Needs constant weights and a constant
/// chain (run after constant folding); the new weight and bias are computed once. A
/// bfloat16 convolution writing float32 (`HalfConvolutionOutput`, autocast's widening before
/// batch norm) folds too: the chain is applied to its weight in float32, rounded to
/// bfloat16 once, and the bias stays float32.
struct BatchNormFolding: GraphPass {
    var name: String { "batch-norm folding" }

    /// y' = scale * y + shift, per output channel ([C] tensors of the convolution's result type).
    struct Affine {
        var scale: Tensor
        var shift: Tensor
    }

    func run(_ graph: Graph) -> Graph {
        var result = graph
        let uses = graph.useCounts
        var consumers = [Int: Int]()
        for (index, operation) in graph.operations.enumerated() {
            for id in operation.inputs { consumers[id] = index }
        }
        var removed = Set<Int>()
        var replacements = [Int: Graph.Operation]()
        eagerly {
            for (index, conv) in graph.operations.enumerated() {
                guard case .conv2d = conv.primitive, graph.constants[conv.inputs[1]] != nil,
                      conv.inputs.count == 2 || graph.constants[conv.inputs[2]] != nil else { continue }
                let spec = graph.specs[conv.outputs[0]]
                let channels = spec.shape[1]
                var affine = Affine(scale: Tensor.ones([channels], dtype: spec.dtype), shift: Tensor.zeros([channels], dtype: spec.dtype))
                var current = conv.outputs[0]
                var chain = [Int]()
                // Follow single-use values through affine steps by constants.
                while uses[current] == 1, let next = consumers[current],
                      let step = step(graph.operations[next], from: current, channels: channels, in: graph) {
                    affine = step(affine)
                    chain.append(next)
                    current = graph.operations[next].outputs[0]
                }
                guard !chain.isEmpty else { continue }
                let weight = graph.constants[conv.inputs[1]]!
                let bias = conv.inputs.count == 3 ? graph.constants[conv.inputs[2]]! : Tensor.zeros([channels], dtype: spec.dtype)
                let scale = affine.scale.reshaped(to: [channels] + Array(repeating: 1, count: weight.rank - 1))
                let foldedWeight = (weight.cast(to: spec.dtype) * scale).cast(to: weight.dtype)
                let foldedBias = bias.cast(to: spec.dtype) * affine.scale + affine.shift
                let operands = [conv.inputs[0], result.addConstant(foldedWeight), result.addConstant(foldedBias)]
                replacements[index] = Graph.Operation(primitive: conv.primitive, inputs: operands, outputs: [current])
                removed.formUnion(chain)
            }
        }
        var operations = [Graph.Operation]()
        for (index, operation) in graph.operations.enumerated() where !removed.contains(index) {
            operations.append(replacements[index] ?? operation)
        }
        result.operations = operations
        return DeadCodeElimination().run(result)
    }

    /// The affine update for `operation` applied to `value`, when it is an add, subtract,
    /// multiply or divide by a constant that is a scalar or holds one number per channel.
    func step(_ operation: Graph.Operation, from value: Int, channels: Int, in graph: Graph) -> ((Affine) -> Affine)? {
        guard case .binary(let op) = operation.primitive, graph.specs[operation.outputs[0]] == graph.specs[value] else { return nil }
        let valueFirst = operation.inputs[0] == value
        let otherID = valueFirst ? operation.inputs[1] : operation.inputs[0]
        guard otherID != value, let other = graph.constants[otherID], let c = perChannel(other, channels: channels) else { return nil }
        switch (op, valueFirst) {
        case (.add, _): return { Affine(scale: $0.scale, shift: $0.shift + c) }
        case (.sub, true): return { Affine(scale: $0.scale, shift: $0.shift - c) }
        case (.sub, false): return { Affine(scale: -$0.scale, shift: c - $0.shift) }
        case (.mul, _): return { Affine(scale: $0.scale * c, shift: $0.shift * c) }
        case (.div, true): return { Affine(scale: $0.scale / c, shift: $0.shift / c) }
        default: return nil
        }
    }

    /// A constant broadcast against [N, C, H, W] as [C] values (a scalar repeated), or nil
    /// when it varies along another axis.
    func perChannel(_ t: Tensor, channels: Int) -> Tensor? {
        guard t.rank <= 4 else { return nil }
        let shape = Array(repeating: 1, count: 4 - t.rank) + t.shape
        guard shape[0] == 1, shape[2] == 1, shape[3] == 1, shape[1] == 1 || shape[1] == channels else { return nil }
        return t.reshaped(to: [shape[1]]).expanded(to: [channels])
    }
}
