import Ember

/// The function traced at several sizes of its dynamic axes: at the example sizes, and once
/// more per axis with that axis one larger. Ember's traces have fixed shapes; comparing them
/// tells, for every dimension of every value, which product of dynamic axes it is
/// (`batch·12`, `sequence`) so that reshapes and slices can be written for any size. A
/// function whose graph changes with a size (a loop over the sequence) cannot be dynamic
/// along it, and says so.
struct SymbolicTrace {
    /// Makes the function to trace for inputs of these specs, declaring its states first
    /// (made before the trace, so that the trace captures them).
    typealias Function = (ONNXStateScope, [TensorSpec]) -> ([Tensor]) -> [Tensor]

    let graph: Graph
    let states: [ONNXState]
    let inputs: [ONNXInput]
    /// Sizes of the dynamic axes in `graph`.
    let sizes: [String: Int]
    /// Every value's dimensions.
    let dimensions: [[ONNXDimension]]
    /// The graphs traced with one axis one larger, by axis.
    let variants: [String: Graph]
    private let function: Function

    init(inputs: [ONNXInput], function: @escaping Function) throws {
        var sizes = [String: Int]()
        for input in inputs {
            for (axis, name) in input.dynamicAxes {
                guard axis >= 0 && axis < input.spec.shape.count else {
                    throw ONNXExportError("input \(input.name): dynamic axis \(axis) (\(name)) is out of range for shape \(input.spec.shape)")
                }
                let size = input.spec.shape[axis]
                if let other = sizes[name], other != size {
                    throw ONNXExportError("dynamic axis \(name) is \(other) in one input and \(size) in \(input.name): one name, one size")
                }
                sizes[name] = size
            }
        }
        self.inputs = inputs
        self.sizes = sizes
        self.function = function
        (graph, states) = Self.trace(inputs, sizes, function)
        var variants = [String: Graph]()
        for name in sizes.keys {
            var grown = sizes
            grown[name]! += 1
            let variant = Self.trace(inputs, grown, function).graph
            try Self.checkSameStructure(graph, variant, axis: name)
            variants[name] = variant
        }
        self.variants = variants
        dimensions = try Self.dimensions(graph, variants, sizes)
        try checkSlices()
    }

    /// Traces the function with the dynamic axes at `sizes`.
    static func trace(_ inputs: [ONNXInput], _ sizes: [String: Int], _ function: Function) -> (graph: Graph, states: [ONNXState]) {
        let specs = inputs.map { input in
            var shape = input.spec.shape
            for (axis, name) in input.dynamicAxes { shape[axis] = sizes[name]! }
            return TensorSpec(shape, input.spec.dtype)
        }
        let scope = ONNXStateScope()
        let traced = function(scope, specs)
        // A customVJP function is written as its forward operations: ONNX graphs run forward only.
        let graph = noGrad { Ember.trace(specs, traced) }.inliningCustomFunctions()
        return (graph, scope.states)
    }

    /// The graph traced with the axes at `sizes` (for constants that grow with an axis).
    func retraced(at sizes: [String: Int]) throws -> Graph {
        let graph = Self.trace(inputs, sizes, function).graph
        try Self.checkSameStructure(self.graph, graph, axis: sizes.keys.sorted().joined(separator: ", "))
        return graph
    }

    private static func checkSameStructure(_ a: Graph, _ b: Graph, axis: String) throws {
        func fail(_ what: String) -> ONNXExportError {
            ONNXExportError("the function's graph changes with the size of dynamic axis \(axis) (\(what)): it cannot be exported with "
                            + "\(axis) dynamic (a loop over that axis, or a branch on its size); export it at a fixed size")
        }
        guard a.operations.count == b.operations.count else { throw fail("\(a.operations.count) operations, then \(b.operations.count)") }
        guard a.specs.count == b.specs.count, a.inputs == b.inputs, a.outputs == b.outputs,
              Set(a.constants.keys) == Set(b.constants.keys), a.updates.map(\.value) == b.updates.map(\.value) else {
            throw fail("different values")
        }
        for (x, y) in zip(a.operations, b.operations) where x.inputs != y.inputs || x.outputs != y.outputs || !sameRule(x.primitive, y.primitive) {
            throw fail("\(x.primitive.name), then \(y.primitive.name)")
        }
        for (x, y) in zip(a.specs, b.specs) where x.shape.count != y.shape.count || x.dtype != y.dtype {
            throw fail("a value of \(x) becomes \(y)")
        }
    }

    /// Primitives equal but for the sizes that their mappings take from the values' dimensions.
    private static func sameRule(_ a: Primitive, _ b: Primitive) -> Bool {
        switch (a, b) {
        case (.reshape, .reshape), (.expand, .expand), (.slice, .slice): return true
        default: return a == b
        }
    }

    /// Each dimension as c·Π axis^k: k from how it grew with each axis, c from the example.
    private static func dimensions(_ graph: Graph, _ variants: [String: Graph], _ sizes: [String: Int]) throws -> [[ONNXDimension]] {
        try graph.specs.indices.map { id in
            try graph.specs[id].shape.indices.map { axis in
                let base = graph.specs[id].shape[axis]
                var exponents = [String: Int]()
                var divisor = 1
                for (name, variant) in variants {
                    let grown = variant.specs[id].shape[axis]
                    let s = sizes[name]!
                    guard let k = (0...8).first(where: { k in base * power(s + 1, k) == grown * power(s, k) }) else {
                        throw ONNXExportError("value %\(id) has a dimension of \(base) that becomes \(grown) when \(name) grows from \(s) to \(s + 1): "
                                              + "not a product of dynamic axes, which export can write")
                    }
                    if k > 0 { exponents[name] = k }
                    divisor *= power(s, k)
                }
                if exponents.isEmpty { return .fixed(base) }
                guard base % divisor == 0 else {
                    throw ONNXExportError("value %\(id): dimension \(base) is not a multiple of its dynamic axes' product \(divisor)")
                }
                return .dynamic(coefficient: base / divisor, exponents: exponents)
            }
        }
    }

    /// A slice is written from its starts and steps and from its output's length: starts and
    /// steps must not depend on a size (x[..., length - 1] cannot be written this way).
    private func checkSlices() throws {
        for variant in variants.values {
            for (a, b) in zip(graph.operations, variant.operations) {
                guard case .slice(let x) = a.primitive, case .slice(let y) = b.primitive else { continue }
                for (axis, (r, s)) in zip(x, y).enumerated() where r.start != s.start || r.step != s.step
                    || (dimensions[a.outputs[0]][axis].fixedValue != nil && r.end != s.end
                        && dimensions[a.inputs[0]][axis] != dimensions[a.outputs[0]][axis]) {
                    throw ONNXExportError("\(a.primitive.name): its start or step along axis \(axis) depends on a dynamic axis; "
                                          + "export with that axis fixed")
                }
            }
        }
    }
}

func power(_ base: Int, _ exponent: Int) -> Int { (0..<exponent).reduce(1) { p, _ in p * base } }
