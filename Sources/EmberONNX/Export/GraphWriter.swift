import Ember
import Foundation

/// Writes a traced function (`SymbolicTrace`) as an ONNX GraphProto: inputs, initializers
/// for captured tensors, one mapping per operation, and outputs.
struct GraphWriter {
    private let traced: SymbolicTrace
    private let assembly: GraphAssembly
    private let parameterNames: [ObjectIdentifier: String]
    private let outputs: [String]
    private let axisMaxima: [String: Int]
    /// The ONNX name of each traced value written so far.
    private var names: [Int: String] = [:]
    /// The graph's inputs, the declared ones then the states.
    private var inputInfos: [Onnx_ValueInfoProto] = []
    private var outputInfos: [Onnx_ValueInfoProto] = []

    init(_ traced: SymbolicTrace, options: ONNXExportOptions, parameters: [(String, Tensor)], outputs: [String]) throws {
        self.traced = traced
        axisMaxima = options.axisMaxima
        self.outputs = outputs
        var parameterNames = [ObjectIdentifier: String]()
        for (name, tensor) in parameters where parameterNames[ObjectIdentifier(tensor)] == nil {
            parameterNames[ObjectIdentifier(tensor)] = name
        }
        self.parameterNames = parameterNames
        var axisSources = [String: (input: String, axis: Int)]()
        for input in traced.inputs {
            for (axis, name) in input.dynamicAxes.sorted(by: { $0.key < $1.key }) where axisSources[name] == nil {
                axisSources[name] = (input.name, axis)
            }
        }
        assembly = GraphAssembly(opset: options.opset, dimensions: traced.dimensions, slicesFromEnd: traced.slicesFromEnd, axisSources: axisSources,
                                 reservedNames: traced.inputs.map(\.name) + traced.states.map(\.name) + outputs + traced.states.map(\.outputName))
    }

    mutating func write(_ options: ONNXExportOptions) throws -> Onnx_GraphProto {
        let graph = traced.graph
        guard graph.randomStates.isEmpty else {
            throw ONNXExportError("the function draws random numbers (dropout in training mode, or random tensors made inside it), "
                                  + "which ONNX export does not cover: export the model in evaluation mode, and make random tensors outside the function")
        }
        for (input, id) in zip(traced.inputs, graph.inputs) {
            names[id] = input.name
            inputInfos.append(Onnx_ValueInfoProto(name: input.name, dtype: input.spec.dtype, dimensions: traced.dimensions[id]))
        }
        try writeConstants()
        // States in the order they were declared, after the inputs.
        let stateOrder = Dictionary(traced.states.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        inputInfos = inputInfos.filter { stateOrder[$0.name] == nil } + inputInfos.filter { stateOrder[$0.name] != nil }
            .sorted { stateOrder[$0.name]! < stateOrder[$1.name]! }
        for operation in graph.operations {
            let results: [String]
            do {
                results = try assembly.write(operation, names: operation.inputs.map { names[$0]! }, specs: graph.specs)
            } catch {
                throw ONNXExportError(error.description)
            }
            for (id, name) in zip(operation.outputs, results) { names[id] = name }
        }
        var results = zip(outputs, graph.outputs).map { ($0, $1) }
        results += try stateOutputs()
        for (name, id) in results {
            assembly.identity(names[id]!, named: name)
            outputInfos.append(Onnx_ValueInfoProto(name: name, dtype: graph.specs[id].dtype, dimensions: traced.dimensions[id]))
        }
        assembly.prune(keeping: results.map(\.0))
        var proto = Onnx_GraphProto()
        proto.name = options.graphName
        proto.input = inputInfos
        proto.output = outputInfos
        proto.node = assembly.nodes
        proto.initializer = assembly.initializers
        return proto
    }

    /// Captured tensors: states become inputs; the rest initializers, named by state-dict key.
    /// A constant whose values tracing computed from dynamic sizes (a length, a fill of one, an
    /// `arange` over one) is computed from the run's sizes (`SizeDependentConstant`); one that
    /// only grows with an axis (a causal mask) is the slice of its largest form (`axisMaxima`).
    private mutating func writeConstants() throws {
        let graph = traced.graph
        let states = Dictionary(traced.states.map { (ObjectIdentifier($0.tensor), $0) }, uniquingKeysWith: { a, _ in a })
        var grown: Graph?
        for id in graph.constants.keys.sorted() {
            let tensor = graph.constants[id]!
            if let state = states[ObjectIdentifier(tensor)] {
                names[id] = state.name
                inputInfos.append(Onnx_ValueInfoProto(name: state.name, dtype: tensor.dtype, dimensions: traced.dimensions[id]))
                continue
            }
            let dimensions = traced.dimensions[id]
            let fixedShape = dimensions.allSatisfy { $0.fixedValue != nil }
            let variants = traced.variants.mapValues { $0.constants[id]! }
            let traces = Array(variants.values) + (traced.checked.map { [$0.graph.constants[id]!] } ?? [])
            if fixedShape && traces.allSatisfy({ $0 === tensor || sameValues($0, tensor) }) {
                names[id] = assembly.initializer(tensor, name: parameterNames[ObjectIdentifier(tensor)] ?? "const")
                continue
            }
            if let checked = traced.checked,
               let form = SizeDependentConstant.fit(base: tensor, grown: variants, checked: checked.graph.constants[id]!,
                                                    sizes: traced.sizes, checkedSizes: checked.sizes, fixedShape: fixedShape) {
                names[id] = assembly.write(form, dimensions: dimensions, dtype: tensor.dtype)
                continue
            }
            if fixedShape {
                let changing = variants.keys.sorted().filter { !sameValues(variants[$0]!, tensor) }
                let axis = (changing.isEmpty ? traced.sizes.keys.sorted() : changing).joined(separator: ", ")
                throw ONNXExportError("a constant of shape \(tensor.shape) (\(tensor.dtype)), computed from the size of \(axis) while tracing, "
                                      + "changes with \(axis) in a way export cannot compute (not offset + coefficient · sizes): export with \(axis) fixed")
            }
            if grown == nil { grown = try traceAtMaxima(constant: id) }
            let largest = grown!.constants[id]!
            let axes = dimensions.indices.filter { dimensions[$0].fixedValue == nil }
            var prefix = largest
            for axis in axes { prefix = noGrad { prefix.narrow(axis: axis, start: 0, count: tensor.shape[axis]) } }
            guard prefix.shape == tensor.shape && sameValues(prefix, tensor) else {
                throw ONNXExportError("a constant of shape \(tensor.shape) (\(tensor.dtype)) grows with a dynamic axis but is not the leading part of "
                                      + "its largest form: export with that axis fixed")
            }
            let table = assembly.initializer(largest, name: "const_table")
            let ends = assembly.shapeTensor(axes.map { dimensions[$0] })
            names[id] = assembly.node("Slice", [table, assembly.int64s(axes.map { _ in 0 }), ends, assembly.int64s(axes)], [], outputs: 1)[0]
        }
    }

    private func traceAtMaxima(constant id: Int) throws -> Graph {
        let needed = traced.dimensions[id].flatMap { dimension -> [String] in
            if case .dynamic(_, let exponents) = dimension { return Array(exponents.keys) }
            return []
        }
        if let axis = needed.first(where: { axisMaxima[$0] == nil }) {
            throw ONNXExportError("a constant of shape \(traced.graph.specs[id].shape) grows with dynamic axis \(axis) (a position "
                                  + "table or a mask): give \(axis)'s largest size (axisMaxima, the model's context length)")
        }
        // Every axis with a maximum at it, so that one more trace serves every such constant.
        var sizes = traced.sizes
        for (axis, maximum) in axisMaxima where sizes[axis] != nil { sizes[axis] = maximum }
        return try traced.retraced(at: sizes)
    }

    /// The new values of the states the function wrote into, as outputs; a write into any
    /// other captured tensor (batch norm statistics in training mode) cannot be exported.
    private func stateOutputs() throws -> [(String, Int)] {
        try traced.graph.updates.map { update in
            guard let state = traced.states.first(where: { $0.tensor === update.target }) else {
                throw ONNXExportError("the function writes into a captured tensor of shape \(update.target.shape) (running statistics "
                                      + "in training mode?): export in evaluation mode, or declare the tensor as state")
            }
            return (state.outputName, update.value)
        }
    }
}

/// Whether two tensors of one shape hold the same elements (NaN equal to NaN).
func sameValues(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && zip(a.doubles, b.doubles).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
}
