import Ember
import Foundation

/// The ONNX graph being written: nodes, initializers and the names of values. It is the
/// builder that primitives' mappings (`Primitive.onnx`) write into; it knows every traced
/// value's dimensions, and computes dynamic ones from the inputs' shapes at run time.
final class GraphAssembly: ONNXBuilder {
    let opset: Int
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var usedNames: Set<String> = []
    private var counter = 0
    private var int64Constants: [[Int]: String] = [:]
    private var scalarConstants: [String: String] = [:]
    private var dimensionTensors: [ONNXDimension: String] = [:]
    /// Where each dynamic axis can be read: an input's name and axis.
    private let axisSources: [String: (input: String, axis: Int)]
    private let dimensions: [[ONNXDimension]]
    private let slicesFromEnd: [Int: Set<Int>]
    /// The operation being written: its inputs' and outputs' value numbers.
    private var current: (inputs: [Int], outputs: [Int]) = ([], [])

    init(opset: Int, dimensions: [[ONNXDimension]], slicesFromEnd: [Int: Set<Int>], axisSources: [String: (input: String, axis: Int)],
         reservedNames: [String]) {
        self.opset = opset
        self.dimensions = dimensions
        self.slicesFromEnd = slicesFromEnd
        self.axisSources = axisSources
        usedNames = Set(reservedNames)
    }

    /// A name not used yet, from `base`.
    func uniqueName(_ base: String) -> String {
        var name = base
        while usedNames.contains(name) {
            counter += 1
            name = "\(base)_\(counter)"
        }
        usedNames.insert(name)
        return name
    }

    /// Writes one traced operation; returns the names of its outputs.
    func write(_ operation: Graph.Operation, names: [String], specs: [TensorSpec]) throws(ONNXMappingError) -> [String] {
        current = (operation.inputs, operation.outputs)
        let operands = ONNXOperands(names: names, inputs: operation.inputs.map { specs[$0] }, outputs: operation.outputs.map { specs[$0] })
        return try operation.primitive.onnx(self, operands)
    }

    func node(_ op: String, _ inputs: [String], _ attributes: [ONNXAttribute], outputs: Int) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = uniqueName(op)
        node.input = inputs
        node.output = (0..<outputs).map { uniqueName("\(node.name)_\($0)") }
        node.attribute = attributes.map(\.proto)
        nodes.append(node)
        return node.output
    }

    /// Gives `input` the graph-output name `output`.
    func identity(_ input: String, named output: String) {
        var node = Onnx_NodeProto()
        node.opType = "Identity"
        node.name = uniqueName("Identity")
        node.input = [input]
        node.output = [output]
        nodes.append(node)
    }

    /// An initializer holding `tensor`, named `name` (a state-dict key) or made up.
    func initializer(_ tensor: Tensor, name: String) -> String {
        let unique = uniqueName(name)
        initializers.append(Onnx_TensorProto(tensor, name: unique))
        return unique
    }

    func int64s(_ values: [Int]) -> String {
        if let name = int64Constants[values] { return name }
        let name = initializer(Tensor(values.map(Int64.init)), name: "const_ints")
        int64Constants[values] = name
        return name
    }

    func scalar(_ value: Double, _ dtype: DType) -> String {
        let key = "\(dtype):\(value.bitPattern)"
        if let name = scalarConstants[key] { return name }
        let name = initializer(noGrad { Tensor.full([], value, dtype: dtype) }, name: "const_scalar")
        scalarConstants[key] = name
        return name
    }

    func inputDimension(_ input: Int, axis: Int) -> ONNXDimension { dimensions[current.inputs[input]][axis] }
    func outputDimension(_ output: Int, axis: Int) -> ONNXDimension { dimensions[current.outputs[output]][axis] }
    func sliceCountsFromEnd(axis: Int) -> Bool { slicesFromEnd[current.outputs[0]]?.contains(axis) ?? false }

    func shapeTensor(_ dimensions: [ONNXDimension]) -> String {
        if dimensions.allSatisfy({ $0.fixedValue != nil }) { return int64s(dimensions.map { $0.fixedValue! }) }
        // Runs of fixed dimensions as one constant, each dynamic one computed.
        var parts = [String](), fixed = [Int]()
        for dimension in dimensions {
            if let value = dimension.fixedValue {
                fixed.append(value)
                continue
            }
            if !fixed.isEmpty { parts.append(int64s(fixed)) }
            fixed = []
            parts.append(dimensionTensor(dimension))
        }
        if !fixed.isEmpty { parts.append(int64s(fixed)) }
        return parts.count == 1 ? parts[0] : node("Concat", parts, [ONNXAttribute("axis", .int(0))], outputs: 1)[0]
    }

    /// A dynamic dimension as an int64 [1]: the axes' sizes read from the inputs, multiplied.
    private func dimensionTensor(_ dimension: ONNXDimension) -> String {
        if let name = dimensionTensors[dimension] { return name }
        guard case .dynamic(let coefficient, let exponents) = dimension else { return int64s([dimension.fixedValue!]) }
        var factors = exponents.sorted { $0.key < $1.key }.flatMap { Array(repeating: axisSize($0.key), count: $0.value) }
        if coefficient != 1 { factors.append(int64s([coefficient])) }
        let product = factors.dropFirst().reduce(factors[0]) { node("Mul", [$0, $1], [], outputs: 1)[0] }
        dimensionTensors[dimension] = product
        return product
    }

    private func axisSize(_ name: String) -> String {
        let key = ONNXDimension.dynamic(coefficient: 1, exponents: [name: 1])
        if let found = dimensionTensors[key] { return found }
        let (input, axis) = axisSources[name]!
        let size: String
        if opset >= 15 {
            size = node("Shape", [input], [ONNXAttribute("start", .int(axis)), ONNXAttribute("end", .int(axis + 1))], outputs: 1)[0]
        } else {
            size = node("Gather", [node("Shape", [input], [], outputs: 1)[0], int64s([axis])], [ONNXAttribute("axis", .int(0))], outputs: 1)[0]
        }
        dimensionTensors[key] = size
        return size
    }

    /// Drops the nodes and initializers that no output needs (the statistics of a layer
    /// norm written natively, constants of a folded branch).
    func prune(keeping outputs: [String]) {
        var needed = Set(outputs)
        var kept = [Onnx_NodeProto]()
        for node in nodes.reversed() where node.output.contains(where: needed.contains) {
            kept.append(node)
            needed.formUnion(node.input)
        }
        nodes = kept.reversed()
        initializers.removeAll { !needed.contains($0.name) }
    }
}
