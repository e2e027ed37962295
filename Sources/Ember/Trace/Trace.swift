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
    /// Generators the function drew from: their state enters as a value of its own, fed at
    /// every call (see `RandomState`).
    public internal(set) var randomStates: [RandomState] = []
    /// Captured tensors the function overwrote in place (`assign`), applied after each call.
    public internal(set) var updates: [Update] = []

    /// A stateful generator's part in a graph: value `value` is the generator's Philox state
    /// (int64 [3]) when a call starts, and each call advances the generator by `blocks`, as
    /// the traced draws did eagerly. So compiled functions draw fresh numbers on every call,
    /// the same numbers as eager calls (torch.compile passes its Philox seed and offset in
    /// the same way).
    public struct RandomState {
        let generator: Generator
        public let value: Int
        public internal(set) var blocks: Int
    }

    /// An in-place assignment to a tensor captured from outside (a batch norm's running
    /// statistics): after a call, `target` holds value `value`.
    public struct Update {
        public let target: Tensor
        public internal(set) var value: Int
    }

    /// Values that must be computed and kept to the end of a call: the outputs and what
    /// the updates write.
    var results: [Int] { outputs + updates.map(\.value) }

    /// Values that no operation produces: inputs, constants and generator states.
    var sources: Set<Int> { Set(inputs).union(constants.keys).union(randomStates.map(\.value)) }

    /// Every value that an interpreter binds before running the operations: the arguments,
    /// the constants and the generators' states (drawn now, advancing the generators).
    func boundValues(_ arguments: [Tensor], caller: String) -> [Tensor?] {
        if arguments.count != inputs.count {
            fatalError("\(caller): expected \(inputs.count) inputs, got \(arguments.count)")
        }
        var values = [Tensor?](repeating: nil, count: specs.count)
        for (argument, id) in zip(arguments, inputs) {
            if argument.spec != specs[id] {
                fatalError("\(caller): input %\(id) was traced as \(specs[id]), got \(argument.spec)")
            }
            values[id] = argument
        }
        for (id, constant) in constants { values[id] = constant }
        for state in randomStates { values[state.value] = state.generator.state(advancingBy: state.blocks) }
        return values
    }

    /// Writes the values of a finished call into the tensors the function updated.
    func applyUpdates(_ values: [Tensor?]) {
        for update in updates { update.target.assign(values[update.value]!) }
    }

    /// Runs the recorded primitives on new inputs of the traced shapes and dtypes. Runs go
    /// through the dispatcher, so a replay can itself be differentiated or traced. A value a
    /// compile pass gave a wider type than its primitive's rule (a bfloat16 convolution
    /// writing float32, `HalfConvolutionOutput`) is cast to it, as the executor writes it.
    public func callAsFunction(_ arguments: [Tensor]) -> [Tensor] {
        var values = boundValues(arguments, caller: "graph replay")
        for operation in operations {
            let results = Dispatch.run(operation.primitive, operation.inputs.map { values[$0]! })
            for (id, result) in zip(operation.outputs, results) {
                values[id] = result.dtype == specs[id].dtype ? result : result.cast(to: specs[id].dtype)
            }
        }
        applyUpdates(values)
        return outputs.map { values[$0]! }
    }

    public var description: String {
        func name(_ id: Int) -> String { "%\(id)" }
        var lines = ["graph(" + inputs.map { "\(name($0)): \(specs[$0])" }.joined(separator: ", ") + ") {"]
        for id in constants.keys.sorted() {
            lines.append("  \(name(id)) = constant : \(specs[id])")
        }
        for state in randomStates {
            lines.append("  \(name(state.value)) = generator_state(advancing \(state.blocks) blocks) : \(specs[state.value])")
        }
        for operation in operations {
            let results = operation.outputs.map(name).joined(separator: ", ")
            let types = operation.outputs.map { "\(specs[$0])" }.joined(separator: ", ")
            lines.append("  \(results) = \(operation.primitive.name)(\(operation.inputs.map(name).joined(separator: ", "))) : \(types)")
        }
        for update in updates { lines.append("  update captured \(update.target.spec) <- \(name(update.value))") }
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
    /// Each generator drawn from: its index in `graph.randomStates` and its state value.
    private var generatorStates: [ObjectIdentifier: (index: Int, tensor: Tensor)] = [:]

    /// Storages made after this one were made while the function ran: its own tensors, not
    /// captured ones.
    private let lastCapturableSerial = Storage.latestSerial

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
        if tensor.isAbstract && outer?.knows(tensor) != true {
            fatalError("trace: a tensor of another trace was used (one computed inside a traced function that has "
                       + "returned, or stored by it); return it from its traced function, or compute it inside this one")
        }
        let id = graph.specs.count
        graph.specs.append(tensor.spec)
        graph.constants[id] = tensor
        valueIDs[ObjectIdentifier(tensor)] = id
        seen.append(tensor)
        return id
    }

    /// The state a draw of `blocks` Philox blocks from `generator` starts from: the
    /// generator's state at the start of a call (a value of the graph) plus what earlier
    /// draws in the function took.
    func generatorState(_ generator: Generator, advancingBy blocks: Int) -> Tensor {
        let key = ObjectIdentifier(generator)
        if generatorStates[key] == nil {
            let (tensor, id) = newValue(TensorSpec([3], .int64))
            generatorStates[key] = (graph.randomStates.count, tensor)
            graph.randomStates.append(Graph.RandomState(generator: generator, value: id, blocks: 0))
        }
        let (index, state) = generatorStates[key]!
        let start = graph.randomStates[index].blocks
        graph.randomStates[index].blocks += blocks
        return start == 0 ? state : state + Tensor([0, 0, Int64(start)])
    }

    /// Records `value` as the new content of `target`: later reads of `target` in the
    /// function see it, as values without derivatives (an eager assignment copies values,
    /// not history). A tensor captured from outside is overwritten after each call; one the
    /// function made itself is its own, made anew by every call, so nothing outlives the call.
    func recordUpdate(_ target: Tensor, _ value: Tensor) {
        if target.isAbstract {
            fatalError("assign: a value computed inside a traced function cannot be overwritten in place; "
                       + "use the new tensor instead")
        }
        let id = valueID(Dispatch.run1(.stopGradient, [value]))
        if target.storage.serial <= lastCapturableSerial {
            graph.updates.removeAll { $0.target === target }
            graph.updates.append(Graph.Update(target: target, value: id))
        }
        valueIDs[ObjectIdentifier(target)] = id
        seen.append(target)
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

/// Runs `body` eagerly, outside any trace recording on this thread, and without recording
/// for differentiation: for constants made from Swift values (which have values even while
/// a function is traced) and for work done at compile time (an ONNX graph's shape arithmetic).
public func eagerly<T>(_ body: () throws -> T) rethrows -> T {
    let state = ember_thread_state()
    let tracer = state.pointee.tracer
    state.pointee.tracer = nil
    defer { state.pointee.tracer = tracer }
    return try noGrad(body)
}
