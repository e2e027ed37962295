import Ember
import EmberIO
import EmberNN
import Foundation

/// A graph input or output as the model declares it: `dims` are sizes, or nil where the
/// model leaves an axis open (its name, if any, in `symbolicDims`); `dims` is nil when the
/// model does not give the rank.
public struct ONNXValueInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var dims: [Int?]?
    public var symbolicDims: [String?]
    /// The declared ONNX element type (TensorProto.DataType's number; 1 is float).
    public var elementType: Int32 = 1

    /// "[batch, 3, 224, 224]", or "[?]" for an unknown rank.
    public var shapeDescription: String {
        guard let dims else { return "[?]" }
        return "[" + zip(dims, symbolicDims).map { dim, name in dim.map(String.init) ?? name ?? "?" }.joined(separator: ", ") + "]"
    }

    /// A tensor of this value's type from raw records, one element per `recordSize` bytes
    /// (NumPy's '|V<n>', as it saves ml_dtypes' bfloat16, float8, float4 and int4 arrays).
    public func tensor(records bytes: Data, recordSize: Int, shape: [Int]) throws -> Tensor {
        let count = shape.reduce(1, *)
        if let narrow = ONNXNarrowType(code: elementType), recordSize == 1, bytes.count == count {
            return narrow.tensor(unpacked: bytes.map(UInt32.init), shape: shape)
        }
        if elementType == Int32(Onnx_TensorProto.DataType.bfloat16.rawValue), recordSize == 2, bytes.count == 2 * count {
            let tensor = Tensor(uninitializedShape: shape, dtype: .bfloat16)
            bytes.withUnsafeBytes { raw in
                if let base = raw.baseAddress, raw.count > 0 { tensor.baseAddress.copyMemory(from: base, byteCount: raw.count) }
            }
            return tensor
        }
        throw ONNXError(node: name, op: "input", problem: "raw \(recordSize)-byte records do not hold its declared type \(ONNXElementType.name(elementType))")
    }
}

/// An ONNX model imported as an Ember module: its floating-point initializers are
/// parameters (state-dict keys are the initializer names), its nodes are run one converter
/// each on Ember tensors, so the model runs eagerly, under `compile`, `grad` and `vmap`,
/// and fine-tunes like any module.
///
/// Values computed from constants and shapes alone (the shape arithmetic of exported
/// transformers) are evaluated ahead of time, also while the graph is traced, so that a
/// traced graph holds only the tensor computation.
public final class ONNXModel: Module {
    public let inputs: [ONNXValueInfo]
    public let outputs: [ONNXValueInfo]
    /// The default domain's opset the model was written for.
    public let opset: Int
    public let producer: String
    /// Operators of the graph with how many nodes use each, in first-use order.
    public let operatorCounts: [(op: String, count: Int)]

    let nodes: [ONNXNode]
    let slotCount: Int
    let inputSlots: [Int]
    let outputSlots: [Int]
    /// Floating-point initializers: trainable parameters, read on every run.
    private(set) var parameterSlots: [(slot: Int, parameter: Parameter<Tensor>)]
    /// Batch norm's running statistics: saved with the state, not trained.
    private(set) var bufferSlots: [(slot: Int, buffer: Buffer<Tensor>)]
    /// Integer and bool initializers (indices, shapes): fixed.
    let constantSlots: [(slot: Int, tensor: Tensor)]
    /// After which node each slot is last read, so that intermediates are freed early.
    let lastUse: [[Int]]

    public override var typeName: String { "ONNXModel" }

    public convenience init(contentsOf url: URL) throws {
        try self.init(ONNXModelFile.read(url), path: url.path)
    }

    /// Validates `model` completely (types, shapes of initializers, missing values, cycles,
    /// operators) and throws one `FileError` naming every problem of a kind at once.
    public init(_ model: Onnx_ModelProto, path: String) throws {
        let loaded = try ONNXGraphLoader(model: model, path: path).load()
        inputs = loaded.inputs
        outputs = loaded.outputs
        opset = loaded.opset
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        nodes = loaded.nodes
        slotCount = loaded.slotCount
        inputSlots = loaded.inputSlots
        outputSlots = loaded.outputSlots
        constantSlots = loaded.constants
        var counts = [(op: String, count: Int)]()
        for node in loaded.nodes {
            if let i = counts.firstIndex(where: { $0.op == node.op }) { counts[i].count += 1 } else { counts.append((node.op, 1)) }
        }
        operatorCounts = counts
        var last = Array(repeating: [Int](), count: max(loaded.nodes.count, 1))
        var lastReader = [Int: Int]()
        for (index, node) in loaded.nodes.enumerated() {
            for case let slot? in node.inputs { lastReader[slot] = index }
        }
        let kept = Set(loaded.outputSlots)
        for (slot, index) in lastReader where !kept.contains(slot) { last[index].append(slot) }
        lastUse = last
        parameterSlots = []
        bufferSlots = []
        super.init()
        parameterSlots = loaded.parameters.map { slot, name, tensor in (slot, registerParameter(tensor, as: name)) }
        bufferSlots = loaded.buffers.map { slot, name, tensor in (slot, registerBuffer(tensor, as: name)) }
        eval()
    }

    // MARK: Running

    /// Runs the graph on tensors named by the graph's inputs; gives every output by name.
    public func callAsFunction(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        let unknown = Set(feeds.keys).subtracting(inputs.map(\.name))
        guard unknown.isEmpty else {
            throw ONNXError(node: "graph", op: "input", problem: "no graph input named \(unknown.sorted().joined(separator: ", ")); inputs: \(inputs.map(\.name).joined(separator: ", "))")
        }
        let ordered = try inputs.map { info -> Tensor in
            guard let tensor = feeds[info.name] else {
                throw ONNXError(node: "graph", op: "input", problem: "input '\(info.name)' is missing")
            }
            return tensor
        }
        let results = try run(ordered)
        return Dictionary(zip(outputs.map(\.name), results), uniquingKeysWith: { first, _ in first })
    }

    /// Runs the graph on its inputs in declaration order; gives its outputs in order.
    public func run(_ arguments: [Tensor]) throws -> [Tensor] {
        guard arguments.count == inputs.count else {
            throw ONNXError(node: "graph", op: "input", problem: "expected \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))), got \(arguments.count)")
        }
        for (info, tensor) in zip(inputs, arguments) { try check(tensor, against: info) }
        var values = [Tensor?](repeating: nil, count: slotCount)
        // Whether a value is known before the graph runs: a constant or computed from shapes.
        var known = [Bool](repeating: false, count: slotCount)
        for (slot, tensor) in zip(inputSlots, arguments) { values[slot] = tensor }
        for (slot, parameter) in parameterSlots { values[slot] = parameter.wrappedValue }
        for (slot, buffer) in bufferSlots { values[slot] = buffer.wrappedValue }
        for (slot, tensor) in constantSlots {
            values[slot] = tensor
            known[slot] = true
        }
        let training = isTraining
        for (index, node) in nodes.enumerated() {
            let operands = node.inputs.map { $0.flatMap { values[$0] } }
            let converter = node.converter
            let foldable = converter.readsShapeOnly || node.inputs.allSatisfy { $0.map { known[$0] } ?? true }
            let context = ONNXNodeContext(node: node, inputs: operands, isTraining: training)
            let results = try foldable ? eagerly { try node.converter.convert(context) } : node.converter.convert(context)
            // Inside catchingOperationErrors, an Ember operation's refusal stops the graph at its node.
            if let refused = pendingOperationError() { throw context.fail(refused.message) }
            for (slot, result) in zip(node.outputs, results) {
                guard let slot else { continue }
                values[slot] = result
                known[slot] = foldable
            }
            if let missing = node.outputs.indices.first(where: { node.outputs[$0] != nil && $0 >= results.count }) {
                throw context.fail("gives \(results.count) outputs, but output \(missing) is used")
            }
            for slot in lastUse[index] { values[slot] = nil }
        }
        return try outputSlots.enumerated().map { i, slot in
            guard let value = values[slot] else {
                throw ONNXError(node: "graph", op: "output", problem: "output '\(outputs[i].name)' was not computed")
            }
            return value
        }
    }

    /// Runs the graph on positional inputs as a plain function of tensors, for `compile`,
    /// `vmap` and `grad`; a failure stops the program with the node's message, as a shape
    /// error in any Ember operation does. Use `run` to catch it instead.
    public func callAsFunction(_ arguments: [Tensor]) -> [Tensor] {
        do {
            return try run(arguments)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    private func check(_ tensor: Tensor, against info: ONNXValueInfo) throws {
        func fail(_ problem: String) -> ONNXError { ONNXError(node: "graph", op: "input", problem: "input '\(info.name)' \(problem)") }
        guard tensor.dtype == info.dtype else { throw fail("must be \(info.dtype), got \(tensor.dtype)") }
        guard let dims = info.dims else { return }
        guard tensor.rank == dims.count, zip(dims, tensor.shape).allSatisfy({ $0 == nil || $0 == $1 }) else {
            throw fail("must have shape \(info.shapeDescription), got \(tensor.shape)")
        }
    }
}
