/// Merges a float32 matmul with what follows it into one `fused` operation headed by the
/// matmul (`LinearEpilogue`): a bias added along the last axis, an activation, then a
/// residual of the product's shape — `gelu(x @ w + b)`, `x @ w + b + shortcut` — which the
/// kernel applies as the product is written (oneDNN post-ops) instead of in passes over memory.
/// Each step joins only when the value before it is read by nothing else, so a training
/// graph whose backward reads the pieces keeps them.
///
/// Activations are recognized by what they compute, not how they are spelled: the
/// elementwise subgraph from the value to a candidate result (unary and binary operations on
/// it and on scalar constants, read by nothing outside) is evaluated at probe points and
/// compared with each activation. So the erf GELU that exporters write as
/// `x * (1 + erf(x / √2)) * 0.5`, the tanh GELU with `pow` or products, and SiLU as
/// `x * sigmoid(x)` all become one post-op. Runs before elementwise fusion.
struct LinearFusion: GraphPass {
    var name: String { "linear fusion" }

    /// Most operations an activation's subgraph may have (the tanh GELU has 9 or so).
    static let maximumActivationSize = 12

    func run(_ graph: Graph) -> Graph {
        let uses = graph.useCounts
        var readers = [Int: [Int]]()   // value -> operation indices reading it
        for (index, operation) in graph.operations.enumerated() {
            for id in Set(operation.inputs) { readers[id, default: []].append(index) }
        }
        let results = Set(graph.results)
        /// The operation alone reading `value` (once), when nothing else needs it.
        func soleReader(_ value: Int) -> Int? {
            guard uses[value] == 1, !results.contains(value), let reader = readers[value]?.first else { return nil }
            return reader
        }

        var replaced = [Int: Graph.Operation]()   // index of a chain's last operation -> the fused one
        var removed = Set<Int>()
        for (index, operation) in graph.operations.enumerated() where operation.primitive == .matmul {
            let product = operation.outputs[0], spec = graph.specs[product]
            guard spec.dtype == .float32, spec.shape.count >= 2, graph.specs[operation.inputs[1]].shape.count == 2,
                  !removed.contains(index) else { continue }
            var value = product
            var chain = [index]
            var epilogue = LinearEpilogue()
            var extraInputs = [Int]()
            if let next = soleReader(value), let bias = addend(graph.operations[next], to: value, graph, isBias: true) {
                epilogue.hasBias = true
                extraInputs.append(bias)
                chain.append(next)
                value = graph.operations[next].outputs[0]
            }
            if let (activation, operations, result) = activation(after: value, graph, uses: uses) {
                epilogue.activation = activation
                chain += operations
                value = result
            }
            if let next = soleReader(value), let residual = addend(graph.operations[next], to: value, graph, isBias: false) {
                epilogue.hasResidual = true
                extraInputs.append(residual)
                chain.append(next)
                value = graph.operations[next].outputs[0]
            }
            guard chain.count > 1, chain.allSatisfy({ !removed.contains($0) && replaced[$0] == nil }) else { continue }
            let last = chain.max()!
            replaced[last] = Graph.Operation(primitive: .fused(epilogue.program(domain: spec.shape)),
                                             inputs: Array(operation.inputs.prefix(2)) + extraInputs, outputs: [value])
            removed.formUnion(chain.filter { $0 != last })
        }
        var result = graph
        result.operations = graph.operations.enumerated().compactMap { index, operation in
            removed.contains(index) ? nil : replaced[index] ?? operation
        }
        return result
    }

    /// The other operand of `operation` when it is an add of `value` and a bias (float32,
    /// [n] or [1, ..., n] of the value's last axis) or a residual (the value's spec).
    func addend(_ operation: Graph.Operation, to value: Int, _ graph: Graph, isBias: Bool) -> Int? {
        guard operation.primitive == .binary(.add), operation.inputs.count == 2,
              operation.inputs.filter({ $0 == value }).count == 1,
              let other = operation.inputs.first(where: { $0 != value }),
              graph.specs[operation.outputs[0]] == graph.specs[value] else { return nil }
        let spec = graph.specs[value], addend = graph.specs[other]
        if isBias {
            guard addend.dtype == .float32, addend.shape.last == spec.shape.last, addend.shape.count <= spec.shape.count,
                  addend.shape.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
            return other
        }
        return addend == spec ? other : nil
    }

    // MARK: Activations

    /// The activation that the operations after `value` compute, with those operations
    /// (indices) and its result: the shortest subgraph that reads `value` and scalar
    /// constants only, whose intermediate values nothing outside reads, and that equals an
    /// activation at every probe point.
    func activation(after value: Int, _ graph: Graph, uses: [Int])
        -> (LinearEpilogue.Activation, [Int], Int)? {
        let spec = graph.specs[value]
        guard let start = graph.operations.firstIndex(where: { $0.inputs.contains(value) }) else { return nil }
        // The elementwise operations reachable from `value` through each other and scalars, in order.
        var inside: Set<Int> = [value]
        var region = [Int]()
        for index in start..<graph.operations.count where region.count < LinearFusion.maximumActivationSize {
            let operation = graph.operations[index]
            guard operation.inputs.contains(where: inside.contains) else { continue }
            guard operation.outputs.count == 1, graph.specs[operation.outputs[0]] == spec,
                  LinearFusion.scalarFunction(operation.primitive) != nil,
                  operation.inputs.allSatisfy({ inside.contains($0) || scalarConstant($0, graph) != nil }) else { continue }
            inside.insert(operation.outputs[0])
            region.append(index)
        }
        for (k, candidate) in region.enumerated() {
            let result = graph.operations[candidate].outputs[0]
            // The operations the candidate depends on.
            var needed: Set<Int> = [result], slice = [Int]()
            for index in region[...k].reversed() where needed.contains(graph.operations[index].outputs[0]) {
                slice.insert(index, at: 0)
                needed.formUnion(graph.operations[index].inputs)
            }
            // Nothing outside the slice reads `value` or an intermediate value.
            var reads = [Int: Int]()
            for index in slice { for id in graph.operations[index].inputs { reads[id, default: 0] += 1 } }
            let closed = reads.allSatisfy { id, count in !inside.contains(id) || count == uses[id] }
            guard closed, reads[value] != nil else { continue }
            if let activation = identify(slice, from: value, graph) { return (activation, slice, result) }
        }
        return nil
    }

    /// Points where the activations differ from each other by far more than float32 rounding.
    static let probes: [Double] = [-6, -3.1, -2.2, -1.3, -0.7, -0.31, -0.05, 0, 0.04, 0.29, 0.8, 1.1, 1.9, 2.6, 4.2, 7]

    /// The activation the operations of `slice` compute from `value`, if any.
    func identify(_ slice: [Int], from value: Int, _ graph: Graph) -> LinearEpilogue.Activation? {
        let computed = LinearFusion.probes.map { x in
            var registers = [value: x]
            for index in slice {
                let operation = graph.operations[index]
                let operands = operation.inputs.map { registers[$0] ?? scalarConstant($0, graph)! }
                registers[operation.outputs[0]] = LinearFusion.scalarFunction(operation.primitive)!(operands)
            }
            return registers[graph.operations[slice.last!].outputs[0]]!
        }
        return LinearEpilogue.Activation.allCases.first { activation in
            zip(LinearFusion.probes, computed).allSatisfy { x, y in
                let expected = activation.value(x)
                return abs(y - expected) <= 1e-5 * (1 + abs(expected))
            }
        }
    }

    /// The value of a constant with one element.
    func scalarConstant(_ id: Int, _ graph: Graph) -> Double? {
        guard let constant = graph.constants[id], constant.dtype.isFloatingPoint,
              ShapeMath.count(constant.shape) == 1 else { return nil }
        return constant.item()
    }

    /// A primitive on doubles, for the elementwise operations an activation is written with.
    static func scalarFunction(_ primitive: Primitive) -> (([Double]) -> Double)? {
        switch primitive {
        case .unary(let op):
            let f: ((Double) -> Double)?
            switch op {
            case .neg: f = { -$0 }
            case .abs: f = { Swift.abs($0) }
            case .exp: f = { Double.exp($0) }
            case .log: f = { Double.log($0) }
            case .sqrt: f = { $0.squareRoot() }
            case .rsqrt: f = { 1 / $0.squareRoot() }
            case .tanh: f = { Double.tanh($0) }
            case .sigmoid: f = { 1 / (1 + Double.exp(-$0)) }
            case .relu: f = { Swift.max($0, 0) }
            case .erf: f = { Double.erf($0) }
            case .gelu: f = LinearEpilogue.Activation.gelu.value
            default: f = nil
            }
            return f.map { f in { f($0[0]) } }
        case .binary(let op):
            let f: ((Double, Double) -> Double)?
            switch op {
            case .add: f = (+)
            case .sub: f = (-)
            case .mul: f = (*)
            case .div: f = (/)
            case .pow: f = { Double.pow($0, $1) }
            case .maximum: f = { Swift.max($0, $1) }
            case .minimum: f = { Swift.min($0, $1) }
            default: f = nil
            }
            return f.map { f in { f($0[0], $0[1]) } }
        default:
            return nil
        }
    }
}
