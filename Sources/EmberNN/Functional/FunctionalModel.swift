import Ember

/// Keras's functional `Model`: the layers called between `inputs` and `outputs`, run in
/// the order they were called. Inputs and outputs may be several, layers shared (called
/// more than once) and branches merged. Its layers are its submodules, named as in Keras
/// (`dense`, `dense_1`, ... or the name given at the call), so its state keys are
/// `dense.weight` and so on. With one input and one output it is a `Layer`: `fit`, `summary`,
/// `compile` and the transforms take it like any other.
public final class FunctionalModel: Module, Layer {
    public let inputs: [SymbolicTensor]
    public let outputs: [SymbolicTensor]
    public let name: String
    /// The inputs' names (given, else `input_1`, `input_2`, ...).
    public let inputNames: [String]
    /// The outputs' names: the names of the layers that give them.
    public let outputNames: [String]
    /// The layer calls, every one after the calls it reads.
    let calls: [SymbolicTensor]
    /// Each layer once, in order of first call, with its name.
    let layers: [(name: String, module: Module)]

    public init(inputs: [SymbolicTensor], outputs: [SymbolicTensor], name: String = "model") {
        precondition(!inputs.isEmpty && !outputs.isEmpty, "FunctionalModel: needs at least one input and one output")
        for input in inputs {
            guard case .input = input.node.operation else {
                preconditionFailure("FunctionalModel: its inputs must be Input(...) tensors, got the output of a \(input.node.module!.typeName)")
            }
        }
        precondition(Set(inputs.map(ObjectIdentifier.init)).count == inputs.count, "FunctionalModel: an input is given twice")
        self.inputs = inputs
        self.outputs = outputs
        self.name = name

        // Every call the outputs depend on, in depth-first post-order (each after its inputs).
        var visited = Set<ObjectIdentifier>(inputs.map(ObjectIdentifier.init))
        var calls: [SymbolicTensor] = []
        func visit(_ tensor: SymbolicTensor) {
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { return }
            guard case .call = tensor.node.operation else {
                preconditionFailure("FunctionalModel: an output depends on an Input\(tensor.node.givenName.map { " '\($0)'" } ?? "") "
                                    + "that is not among the model's inputs")
            }
            tensor.node.inputs.forEach(visit)
            calls.append(tensor)
        }
        outputs.forEach(visit)
        self.calls = calls

        var counts: [String: Int] = [:]
        var names: [ObjectIdentifier: String] = [:]
        var used = Set<String>()
        func uniqueName(_ given: String?, type: String) -> String {
            if let given {
                precondition(used.insert(given).inserted, "FunctionalModel: two layers or inputs are named '\(given)'")
                return given
            }
            while true {
                let count = counts[type, default: 0]
                counts[type] = count + 1
                let candidate = count == 0 ? type : "\(type)_\(count)"
                if used.insert(candidate).inserted { return candidate }
            }
        }
        inputNames = inputs.map { uniqueName($0.node.givenName, type: "input") }
        var layers: [(String, Module)] = []
        for call in calls {
            let module = call.node.module!
            if names[ObjectIdentifier(module)] != nil { continue }
            let name = uniqueName(call.node.givenName, type: Self.layerName(module.typeName))
            names[ObjectIdentifier(module)] = name
            layers.append((name, module))
        }
        self.layers = layers
        outputNames = outputs.map { names[ObjectIdentifier($0.node.module!)]! }
    }

    /// Keras's names from type names: `GlobalMaxPooling2D` → `global_max_pooling2d`.
    static func layerName(_ typeName: String) -> String {
        var name = ""
        var previous: Character?
        for character in typeName {
            if character.isUppercase, let previous, previous.isLowercase { name.append("_") }
            name += character.lowercased()
            previous = character
        }
        return name
    }

    override func declaredMembers() -> (slots: [(String, TensorSlot)], children: [(String, Module)]) {
        ([], layers.map { ($0.name, $0.module) })
    }

    /// Runs the model on one tensor per input, in the order of `inputs`.
    public func callAsFunction(_ values: [Tensor]) -> [Tensor] {
        recordingCall { run(values) }
    }

    /// Runs the model on its inputs by name; the outputs by name.
    public func callAsFunction(_ values: [String: Tensor]) -> [String: Tensor] {
        for key in values.keys where !inputNames.contains(key) {
            preconditionFailure("\(name): no input is named '\(key)' (inputs: \(inputNames.joined(separator: ", ")))")
        }
        let ordered = inputNames.map { key in
            guard let value = values[key] else { preconditionFailure("\(name): the input '\(key)' is missing") }
            return value
        }
        return Dictionary(uniqueKeysWithValues: zip(outputNames, self(ordered)))
    }

    /// One input, one output.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(inputs.count == 1 && outputs.count == 1,
                     "\(name): has \(inputs.count) inputs and \(outputs.count) outputs; call it with an array or a dictionary")
        return run([x])[0]
    }

    private func run(_ values: [Tensor]) -> [Tensor] {
        precondition(values.count == inputs.count, "\(name): expected \(inputs.count) inputs, got \(values.count)")
        var computed: [ObjectIdentifier: Tensor] = [:]
        for (input, value) in zip(inputs, values) {
            let matches = value.rank == input.shape.count + 1
                && zip(value.shape.dropFirst(), input.shape).allSatisfy { size, expected in expected.map { $0 == size } ?? true }
            precondition(matches, "\(name): the input \(inputNames[computed.count]) must be \(input) (None: any size), got \(value.shape)")
            precondition(value.dtype == input.dtype, "\(name): the input \(inputNames[computed.count]) must be \(input.dtype), got \(value.dtype)")
            computed[ObjectIdentifier(input)] = value
        }
        for call in calls {
            guard case .call(_, _, let apply) = call.node.operation else { continue }
            computed[ObjectIdentifier(call)] = apply(call.node.inputs.map { computed[ObjectIdentifier($0)]! })
        }
        return outputs.map { computed[ObjectIdentifier($0)]! }
    }
}
