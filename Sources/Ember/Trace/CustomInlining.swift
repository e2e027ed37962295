extension Graph {
    /// The graph with each custom function's operation (`customVJP`) replaced by the
    /// operations of its forward function, traced for that operation's inputs, and so on
    /// inside them: the same values, without the functions' own derivative, batching and
    /// forward-mode rules. For consumers that run a graph forward only and cannot call back
    /// into Swift, such as ONNX export.
    ///
    /// A function whose forward draws random numbers or writes into captured tensors stays
    /// one operation: its generator and updates belong to the function's own calls.
    public func inliningCustomFunctions() -> Graph {
        guard operations.contains(where: { if case .custom = $0.primitive { return true } else { return false } }) else {
            return self
        }
        var result = self
        result.operations = []
        // Outer values that stand for others: a custom operation's outputs become the
        // inlined graph's results.
        var replaced = [Int: Int]()
        func resolve(_ id: Int) -> Int { replaced[id] ?? id }

        for operation in operations {
            var operation = operation
            operation.inputs = operation.inputs.map(resolve)
            guard case .custom(let function) = operation.primitive else {
                result.operations.append(operation)
                continue
            }
            let inner = function.graph(for: operation.inputs.map { specs[$0] }).inliningCustomFunctions()
            guard inner.randomStates.isEmpty && inner.updates.isEmpty else {
                result.operations.append(operation)
                continue
            }
            var inside = [Int: Int]()
            for (innerID, outerID) in zip(inner.inputs, operation.inputs) { inside[innerID] = outerID }
            for (innerID, tensor) in inner.constants.sorted(by: { $0.key < $1.key }) {
                inside[innerID] = result.specs.count
                result.constants[result.specs.count] = tensor
                result.specs.append(inner.specs[innerID])
            }
            for innerOperation in inner.operations {
                let outputs = innerOperation.outputs.map { innerID -> Int in
                    inside[innerID] = result.specs.count
                    result.specs.append(inner.specs[innerID])
                    return inside[innerID]!
                }
                result.operations.append(Operation(primitive: innerOperation.primitive,
                                                   inputs: innerOperation.inputs.map { inside[$0]! }, outputs: outputs))
            }
            for (outerID, innerID) in zip(operation.outputs, inner.outputs) { replaced[outerID] = inside[innerID]! }
        }
        result.outputs = outputs.map(resolve)
        result.updates = updates.map { update in
            var update = update
            update.value = resolve(update.value)
            return update
        }
        return result
    }
}
