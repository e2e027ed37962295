import Ember

/// Keras's `Input`: `Input(shape: [784])` starts a functional model.
public typealias Input = SymbolicTensor

/// A tensor of a functional model under construction (Keras's `KerasTensor`): the shape of one
/// example (the batch axis left out; nil where any size goes, as a sequence's length), the
/// dtype, and the layer call or input it comes from. Calling a layer on symbolic tensors
/// records the call and gives its output; `FunctionalModel(inputs:outputs:)` runs the calls.
public final class SymbolicTensor: CustomStringConvertible {
    public let shape: [Int?]
    public let dtype: DType
    let node: GraphNode

    /// A model input: examples of `shape` (nil: any size) and `dtype`.
    public convenience init(shape: [Int?], dtype: DType = .float32, name: String? = nil) {
        precondition(shape.allSatisfy { ($0 ?? 1) > 0 }, "Input: sizes must be positive, got \(shape)")
        self.init(shape: shape, dtype: dtype, node: GraphNode(operation: .input(name: name), inputs: []))
    }

    init(shape: [Int?], dtype: DType, node: GraphNode) {
        self.shape = shape
        self.dtype = dtype
        self.node = node
    }

    /// Keras's notation: `[None, 28, 28]`, the batch axis first.
    public var description: String {
        "[" + ([nil] + shape).map { $0.map(String.init) ?? "None" }.joined(separator: ", ") + "]"
    }

    /// An example batch of one for shape inference, free sizes set to `free`.
    func example(free: Int) -> Tensor {
        Tensor.zeros([1] + shape.map { $0 ?? free }, dtype: dtype)
    }

    /// Records `module` applied to `inputs` by `apply` and gives its output, whose shape is
    /// found by running the module on examples in evaluation mode (twice when a size is free:
    /// the output sizes that change with it are free too). A Keras-style layer without its
    /// input size (`Dense`) is built by that run.
    static func call(_ module: Module, on inputs: [SymbolicTensor], name: String?,
                     _ apply: @escaping ([Tensor]) -> Tensor) -> SymbolicTensor {
        let wasTraining = module.isTraining
        module.eval()
        defer { module.train(wasTraining) }
        func probe(_ free: Int) -> Tensor { noGrad { apply(inputs.map { $0.example(free: free) }) } }
        let first = probe(2)
        precondition(first.rank >= 1 && first.shape[0] == 1, "\(module.typeName): its output \(first.shape) has no batch axis")
        var shape = first.shape.dropFirst().map { Optional($0) }
        if inputs.contains(where: { $0.shape.contains(nil) }) {
            let second = probe(3)
            precondition(second.rank == first.rank, "\(module.typeName): its output's rank changes with the input's free sizes")
            shape = zip(first.shape, second.shape).dropFirst().map { $0 == $1 ? $0 : nil }
        }
        let node = GraphNode(operation: .call(module, name: name, apply), inputs: inputs)
        return SymbolicTensor(shape: shape, dtype: first.dtype, node: node)
    }
}

/// Where a symbolic tensor comes from: a model input, or one call of a module on others.
final class GraphNode {
    enum Operation {
        case input(name: String?)
        case call(Module, name: String?, ([Tensor]) -> Tensor)
    }
    let operation: Operation
    let inputs: [SymbolicTensor]

    init(operation: Operation, inputs: [SymbolicTensor]) {
        self.operation = operation
        self.inputs = inputs
    }

    var module: Module? {
        if case .call(let module, _, _) = operation { return module }
        return nil
    }

    /// The name given at the call or to the input, if any.
    var givenName: String? {
        switch operation {
        case .input(let name), .call(_, let name, _): name
        }
    }
}

extension Layer {
    /// Records this layer's call in a functional model; `name` names the layer in it (and the
    /// model's output, when this is one), else it is named from its type (`dense_1`).
    public func callAsFunction(_ x: SymbolicTensor, name: String? = nil) -> SymbolicTensor {
        SymbolicTensor.call(self, on: [x], name: name) { self($0[0]) }
    }
}

extension MergeLayer {
    /// Records this layer's call on several symbolic tensors in a functional model.
    public func callAsFunction(_ inputs: [SymbolicTensor], name: String? = nil) -> SymbolicTensor {
        SymbolicTensor.call(self, on: inputs, name: name) { self($0) }
    }
}
