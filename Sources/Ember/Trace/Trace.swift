import CEmberSupport

/// A function recorded as primitives over numbered values: the intermediate form that
/// replay, `compile`, `vmap` and ONNX export work on.
public struct Graph: CustomStringConvertible {
    public struct Operation {
        public var primitive: Primitive
        public var inputs: [Int]
        public var outputs: [Int]
    }

    /// Shape and dtype of every value, indexed by value number.
    public internal(set) var specs: [TensorSpec] = []
    public internal(set) var inputs: [Int] = []
    /// Tensors the function captured from outside the trace, by value number.
    public internal(set) var constants: [Int: Tensor] = [:]
    public internal(set) var operations: [Operation] = []
    public internal(set) var outputs: [Int] = []

    /// Runs the recorded primitives on new inputs of the traced shapes and dtypes. Runs go
    /// through the dispatcher, so a replay can itself be differentiated or traced.
    public func callAsFunction(_ arguments: [Tensor]) -> [Tensor] {
        precondition(arguments.count == inputs.count,
                     "graph replay: expected \(inputs.count) inputs, got \(arguments.count)")
        var values = [Tensor?](repeating: nil, count: specs.count)
        for (argument, id) in zip(arguments, inputs) {
            precondition(argument.spec == specs[id],
                         "graph replay: input %\(id) was traced as \(specs[id]), got \(argument.spec)")
            values[id] = argument
        }
        for (id, constant) in constants { values[id] = constant }
        for operation in operations {
            let results = Dispatch.run(operation.primitive, operation.inputs.map { values[$0]! })
            for (id, result) in zip(operation.outputs, results) { values[id] = result }
        }
        return outputs.map { values[$0]! }
    }

    public var description: String {
        func name(_ id: Int) -> String { "%\(id)" }
        var lines = ["graph(" + inputs.map { "\(name($0)): \(specs[$0])" }.joined(separator: ", ") + ") {"]
        for id in constants.keys.sorted() {
            lines.append("  \(name(id)) = constant : \(specs[id])")
        }
        for operation in operations {
            let results = operation.outputs.map(name).joined(separator: ", ")
            let types = operation.outputs.map { "\(specs[$0])" }.joined(separator: ", ")
            lines.append("  \(results) = \(operation.primitive.name)(\(operation.inputs.map(name).joined(separator: ", "))) : \(types)")
        }
        lines.append("  return " + outputs.map(name).joined(separator: ", "))
        lines.append("}")
        return lines.joined(separator: "\n")
    }
}

/// The trace interpreter: instead of running primitives, it records them and returns
/// abstract tensors (shape and dtype, no values).
final class Tracer {
    var graph = Graph()
    /// The tracer that was recording when this one started. A function traced inside another
    /// trace (a transform nested in a transform) may capture its values; they enter this
    /// graph as constants.
    let outer: Tracer?
    private var valueIDs: [ObjectIdentifier: Int] = [:]
    /// Keeps every tensor seen alive so that object identifiers stay unique.
    private var seen: [Tensor] = []

    init(outer: Tracer?) { self.outer = outer }

    /// Whether `tensor` is a value of this trace or of an enclosing one.
    func knows(_ tensor: Tensor) -> Bool {
        valueIDs[ObjectIdentifier(tensor)] != nil || outer?.knows(tensor) == true
    }

    func newValue(_ spec: TensorSpec) -> (Tensor, Int) {
        let tensor = Tensor(storage: abstractStorage, shape: spec.shape,
                            strides: ShapeMath.contiguousStrides(spec.shape), offset: 0, dtype: spec.dtype)
        let id = graph.specs.count
        graph.specs.append(spec)
        valueIDs[ObjectIdentifier(tensor)] = id
        seen.append(tensor)
        return (tensor, id)
    }

    /// The tracer recording on this thread, if any.
    static var current: Tracer? {
        ember_thread_state().pointee.tracer.map { Unmanaged<Tracer>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Makes `alias`, a new handle on a traced value (a detached copy), stand for that value.
    func alias(_ alias: Tensor, of tensor: Tensor) {
        valueIDs[ObjectIdentifier(alias)] = valueID(tensor)
        seen.append(alias)
    }

    /// The value number of `tensor`; a concrete tensor from outside, or a value of an
    /// enclosing trace, becomes a constant.
    func valueID(_ tensor: Tensor) -> Int {
        if let id = valueIDs[ObjectIdentifier(tensor)] { return id }
        precondition(!tensor.isAbstract || outer?.knows(tensor) == true,
                     "trace: a tensor from another trace was used; return it from its traced function instead")
        let id = graph.specs.count
        graph.specs.append(tensor.spec)
        graph.constants[id] = tensor
        valueIDs[ObjectIdentifier(tensor)] = id
        seen.append(tensor)
        return id
    }

    func record(_ primitive: Primitive, _ inputs: [Tensor]) -> [Tensor] {
        let specs = Dispatch.checkedSpecs(primitive, inputs)
        let inputIDs = inputs.map(valueID)
        var outputs = [Tensor]()
        var outputIDs = [Int]()
        for spec in specs {
            let (tensor, id) = newValue(spec)
            outputs.append(tensor)
            outputIDs.append(id)
        }
        graph.operations.append(Graph.Operation(primitive: primitive, inputs: inputIDs, outputs: outputIDs))
        return outputs
    }
}

/// Records `f` as a graph of primitives for inputs of the given shapes and dtypes, without
/// computing anything. Inside `f` tensors are abstract: they have shapes but no values.
public func trace(_ inputSpecs: [TensorSpec], _ f: ([Tensor]) -> [Tensor]) -> Graph {
    let tracer = Tracer(outer: Tracer.current)
    let arguments = inputSpecs.map { spec -> Tensor in
        let (tensor, id) = tracer.newValue(spec)
        tracer.graph.inputs.append(id)
        return tensor
    }
    let state = ember_thread_state()
    let outer = state.pointee.tracer
    state.pointee.tracer = Unmanaged.passUnretained(tracer).toOpaque()
    let results = f(arguments)
    state.pointee.tracer = outer
    tracer.graph.outputs = results.map(tracer.valueID)
    return tracer.graph
}

/// Records `f` for inputs shaped like `examples` (their values are not used).
public func trace(like examples: [Tensor], _ f: ([Tensor]) -> [Tensor]) -> Graph {
    trace(examples.map(\.spec), f)
}
