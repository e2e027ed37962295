import Ember

/// A validated node of an imported graph: its converter and where its values live.
struct ONNXNode {
    let name: String
    let op: String
    let opset: Int
    let converter: ONNXOperator
    let attributes: [String: Onnx_AttributeProto]
    /// Tensor-valued attributes (Constant's `value`), decoded and checked at load time.
    let tensorAttributes: [String: Tensor]
    /// Value slots of the inputs; nil for an omitted optional input ("").
    let inputs: [Int?]
    /// The ONNX element types the file declares for the inputs (nil where it does not).
    let inputElementTypes: [Int32?]
    let outputs: [Int?]
}

/// What a converter sees of one node while the graph runs: its inputs, attributes and
/// whether the module is training.
struct ONNXNodeContext {
    let node: ONNXNode
    let inputs: [Tensor?]
    let isTraining: Bool

    var opset: Int { node.opset }
    var outputCount: Int { node.outputs.count }

    func fail(_ problem: String) -> ONNXError {
        ONNXError(node: node.name, op: node.op, problem: problem)
    }

    // MARK: Inputs

    func input(_ index: Int) throws -> Tensor {
        guard let tensor = optionalInput(index) else { throw fail("input \(index) is required") }
        return tensor
    }

    func optionalInput(_ index: Int) -> Tensor? {
        index < inputs.count ? inputs[index] : nil
    }

    /// The ONNX element type the file declares for an input, if it does.
    func inputElementType(_ index: Int) -> Int32? {
        index < node.inputElementTypes.count ? node.inputElementTypes[index] : nil
    }

    /// Every present input (variadic operators: Sum, Concat, Max).
    var presentInputs: [Tensor] { inputs.compactMap { $0 } }

    /// The values of an input that sets a shape, axes or counts. They must be known while a
    /// graph is traced (computed from constants and shapes); eager runs may read any input.
    func ints(_ index: Int) throws -> [Int]? {
        guard let tensor = optionalInput(index) else { return nil }
        guard !tensor.isAbstract else {
            throw fail("input \(index) sets shapes or axes but depends on the graph's input values; compile, vmap and grad need it to come from constants and shapes")
        }
        guard !tensor.dtype.isFloatingPoint else { throw fail("input \(index) must hold integers, got \(tensor.dtype)") }
        return tensor.scalars(as: Int64.self).map { Int($0) }
    }

    func doubles(_ index: Int) throws -> [Double]? {
        guard let tensor = optionalInput(index) else { return nil }
        guard !tensor.isAbstract else {
            throw fail("input \(index) must be known before the graph runs (computed from constants and shapes)")
        }
        return tensor.doubles
    }

    // MARK: Attributes

    func int(_ name: String, _ defaultValue: Int) -> Int {
        node.attributes[name].map { Int($0.i) } ?? defaultValue
    }

    func int(_ name: String) throws -> Int {
        guard let attribute = node.attributes[name] else { throw fail("attribute '\(name)' is required") }
        return Int(attribute.i)
    }

    func ints(_ name: String) -> [Int]? {
        node.attributes[name].map { $0.ints.map { Int($0) } }
    }

    func float(_ name: String, _ defaultValue: Double) -> Double {
        node.attributes[name].map { Double($0.f) } ?? defaultValue
    }

    func floats(_ name: String) -> [Double]? {
        node.attributes[name].map { $0.floats.map(Double.init) }
    }

    func string(_ name: String, _ defaultValue: String) -> String {
        node.attributes[name].map { String(decoding: $0.s, as: UTF8.self) } ?? defaultValue
    }

    func strings(_ name: String) -> [String]? {
        node.attributes[name].map { $0.strings.map { String(decoding: $0, as: UTF8.self) } }
    }

    func has(_ name: String) -> Bool { node.attributes[name] != nil }

    func tensor(_ name: String) -> Tensor? { node.tensorAttributes[name] }

    // MARK: Helpers shared by converters

    /// An axis in 0..<rank, counting negative axes from the end.
    func axis(_ axis: Int, rank: Int) throws -> Int {
        guard (-rank..<max(rank, 1)).contains(axis) else { throw fail("axis \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    func axes(_ axes: [Int], rank: Int) throws -> [Int] {
        let normalized = try axes.map { try axis($0, rank: rank) }
        guard Set(normalized).count == normalized.count else { throw fail("axes \(axes) repeat an axis") }
        return normalized
    }

    /// Checks that a tensor of `shape` may be created (ConstantOfShape, Expand, Range, Tile).
    func checkSize(_ shape: [Int]) throws {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { throw fail("dimension \(dim) of shape \(shape) is negative") }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= ONNXTensorDecoder.maximumElements else {
                throw fail("shape \(shape) holds more than \(ONNXTensorDecoder.maximumElements) elements")
            }
            count = product
        }
    }
}
