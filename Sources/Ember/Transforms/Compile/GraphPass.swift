/// A rewrite of a graph that keeps what it computes: `compile` runs a pipeline of them.
protocol GraphPass {
    var name: String { get }
    func run(_ graph: Graph) -> Graph
}

extension Graph {
    /// How many times each value is read: by operations, and once more per graph output
    /// and per update that writes it.
    var useCounts: [Int] {
        var counts = [Int](repeating: 0, count: specs.count)
        for operation in operations {
            for id in operation.inputs { counts[id] += 1 }
        }
        for id in results { counts[id] += 1 }
        return counts
    }

    /// The operation producing each value, by index into `operations`.
    var producers: [Int: Int] {
        var result = [Int: Int]()
        for (index, operation) in operations.enumerated() {
            for id in operation.outputs { result[id] = index }
        }
        return result
    }

    /// A new value holding a tensor fixed at compile time.
    mutating func addConstant(_ tensor: Tensor) -> Int {
        let id = specs.count
        specs.append(tensor.spec)
        constants[id] = tensor
        return id
    }

    /// Reads of values renamed by `substitutions` (followed transitively).
    mutating func substitute(_ substitutions: [Int: Int]) {
        guard !substitutions.isEmpty else { return }
        func resolve(_ id: Int) -> Int {
            var current = id
            while let next = substitutions[current] { current = next }
            return current
        }
        for k in operations.indices { operations[k].inputs = operations[k].inputs.map(resolve) }
        outputs = outputs.map(resolve)
        for k in updates.indices { updates[k].value = resolve(updates[k].value) }
    }
}
