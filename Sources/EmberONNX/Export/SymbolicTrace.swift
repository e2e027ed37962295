import Ember

/// The function traced at several sizes of its dynamic axes: at the example sizes, and once
/// more per axis with that axis one larger. Ember's traces have fixed shapes; comparing them
/// tells, for every dimension of every value, which product of dynamic axes it is
/// (`batch·12`, `sequence`) so that reshapes and slices can be written for any size. A
/// function whose graph changes with a size (a loop over the sequence) cannot be dynamic
/// along it, and says so. One more trace, with every axis two larger, checks the values that
/// tracing computed from the sizes (constants, slice starts) against the forms fitted at one
/// larger, so that a length halved or squared is refused rather than written wrong.
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
    /// The graph traced with every axis two larger, and those sizes (nil without dynamic axes).
    let checked: (graph: Graph, sizes: [String: Int])?
    /// The slices written from the end of an axis (x[..., length − 1]): their axes, by output value.
    let slicesFromEnd: [Int: Set<Int>]
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
        if sizes.isEmpty {
            checked = nil
        } else {
            let grown = sizes.mapValues { $0 + 2 }
            let graph = Self.trace(inputs, grown, function).graph
            try Self.checkSameStructure(self.graph, graph, axis: sizes.keys.sorted().joined(separator: ", "))
            checked = (graph, grown)
        }
        dimensions = try Self.dimensions(graph, variants, sizes)
        if let checked { try Self.checkDimensions(dimensions, against: checked.graph, at: checked.sizes) }
        slicesFromEnd = try Self.slicesFromEnd(graph, Array(variants.values) + (checked.map { [$0.graph] } ?? []), dimensions)
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

    /// Every dimension is the product it was inferred to be at the sizes two larger too (a
    /// length halved with rounding looks fixed between two neighbouring sizes).
    private static func checkDimensions(_ dimensions: [[ONNXDimension]], against checked: Graph, at sizes: [String: Int]) throws {
        for (id, values) in dimensions.enumerated() {
            for (axis, dimension) in values.enumerated() {
                let expected: Int
                switch dimension {
                case .fixed(let value): expected = value
                case .dynamic(let coefficient, let exponents):
                    expected = exponents.reduce(coefficient) { $0 * power(sizes[$1.key]!, $1.value) }
                }
                let found = checked.specs[id].shape[axis]
                guard found == expected else {
                    throw ONNXExportError("value %\(id) has a dimension that is \(dimension.symbol) at the traced sizes but \(found), not \(expected), "
                                          + "at \(sizes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")): "
                                          + "not a product of dynamic axes, which export can write")
                }
            }
        }
    }

    /// A slice is written from its starts and steps and from its output's length. A start that
    /// keeps its distance to the end of a growing axis (x[..., length − 1], with a fixed count)
    /// is written from the end; any other start or step that depends on a size is refused.
    /// Returns the axes written from the end, by the slice's output value.
    private static func slicesFromEnd(_ graph: Graph, _ others: [Graph], _ dimensions: [[ONNXDimension]]) throws -> [Int: Set<Int>] {
        var fromEnd = [Int: Set<Int>]()
        for (index, a) in graph.operations.enumerated() {
            guard case .slice(let x) = a.primitive else { continue }
            for (axis, r) in x.enumerated() {
                let outputFixed = dimensions[a.outputs[0]][axis].fixedValue != nil
                var moves = false, keepsToTheEnd = outputFixed && r.step > 0
                for variant in others {
                    let b = variant.operations[index]
                    guard case .slice(let y) = b.primitive else { continue }
                    let s = y[axis]
                    let growth = variant.specs[b.inputs[0]].shape[axis] - graph.specs[a.inputs[0]].shape[axis]
                    if r.start != s.start || r.step != s.step
                        || (outputFixed && r.end != s.end && dimensions[a.inputs[0]][axis] != dimensions[a.outputs[0]][axis]) {
                        moves = true
                    }
                    if growth == 0 ? (r != s) : (s.start - r.start != growth || s.end - r.end != growth || s.step != r.step) {
                        keepsToTheEnd = false
                    }
                }
                guard moves else { continue }
                guard keepsToTheEnd else {
                    throw ONNXExportError("\(a.primitive.name): its start or step along axis \(axis) depends on a dynamic axis other than "
                                          + "as a distance from its end; export with that axis fixed")
                }
                fromEnd[a.outputs[0], default: []].insert(axis)
            }
        }
        return fromEnd
    }
}

func power(_ base: Int, _ exponent: Int) -> Int { (0..<exponent).reduce(1) { p, _ in p * base } }
