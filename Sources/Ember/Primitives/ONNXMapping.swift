/// Each primitive's ONNX mapping: the nodes that compute it, in terms of a builder that the
/// exporter (EmberONNX) provides, so that the core needs no protobuf. Like the other tables of
/// this folder, the switch is exhaustive: a new primitive does not compile without a mapping
/// (or an error saying why it has none). The bodies live in the families' files (Ops/).

/// The exporter's side of a mapping: it names values, adds nodes and constants, and knows each
/// dimension of the operation's operands, which may be dynamic (named axes such as `batch`).
public protocol ONNXBuilder: AnyObject {
    /// The opset the model is written for (13...21).
    var opset: Int { get }
    /// Adds a node and returns the names of its `outputs` outputs.
    func node(_ op: String, _ inputs: [String], _ attributes: [ONNXAttribute], outputs: Int) -> [String]
    /// A 1-D int64 constant.
    func int64s(_ values: [Int]) -> String
    /// A scalar constant of `dtype`.
    func scalar(_ value: Double, _ dtype: DType) -> String
    /// The current operation's input `input`, dimension `axis`.
    func inputDimension(_ input: Int, axis: Int) -> ONNXDimension
    /// The current operation's output `output`, dimension `axis`.
    func outputDimension(_ output: Int, axis: Int) -> ONNXDimension
    /// A 1-D int64 tensor holding these dimensions (a constant when all are fixed).
    func shapeTensor(_ dimensions: [ONNXDimension]) -> String
    /// Whether the current slice's start and end along `axis` keep their distance to the end of
    /// a dynamic axis (x[..., length − 1]), so are written counted from the end.
    func sliceCountsFromEnd(axis: Int) -> Bool
}

/// A dimension as the exporter knows it: fixed, or computed from the model's dynamic axes at
/// run time. Two dynamic dimensions are equal when they are the same product of axes.
public enum ONNXDimension: Hashable, Sendable {
    case fixed(Int)
    /// `coefficient` · Π axis^exponent over the named dynamic axes.
    case dynamic(coefficient: Int, exponents: [String: Int])

    public var fixedValue: Int? {
        if case .fixed(let value) = self { return value }
        return nil
    }
}

/// A node attribute.
public struct ONNXAttribute: Sendable {
    public enum Value: Sendable {
        case int(Int)
        case ints([Int])
        case float(Double)
        case string(String)
        /// A TensorProto data type (Cast's `to`).
        case dtype(DType)
    }
    public let name: String
    public let value: Value
    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }
}

/// Why a primitive has no ONNX form here.
public struct ONNXMappingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    static func training(_ primitive: Primitive) -> ONNXMappingError {
        ONNXMappingError("\(primitive.name) is part of a training graph (derivatives or random numbers), which ONNX export does "
                         + "not cover: export the model's inference function (eval mode, no grad, no dropout)")
    }
}

/// What a mapping receives: the ONNX names of the operation's inputs, and their and its
/// outputs' shapes and dtypes at the traced sizes.
public struct ONNXOperands {
    public let names: [String]
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    public init(names: [String], inputs: [TensorSpec], outputs: [TensorSpec]) {
        self.names = names
        self.inputs = inputs
        self.outputs = outputs
    }
}

extension Primitive {
    /// Adds the nodes computing this primitive and returns the names of its outputs, or throws
    /// when the primitive has no ONNX form (training graphs, functions traced by `compile`).
    public func onnx(_ b: ONNXBuilder, _ x: ONNXOperands) throws(ONNXMappingError) -> [String] {
        switch self {
        case .unary(let op): return [Elementwise.unaryONNX(op, b, x)]
        case .binary(let op): return [Elementwise.binaryONNX(op, b, x)]
        case .compare(let op): return [Elementwise.compareONNX(op, b, x)]
        case .select: return b.node("Where", x.names, [], outputs: 1)
        case .cast(let t): return b.node("Cast", x.names, [ONNXAttribute("to", .dtype(t))], outputs: 1)
        case .reduce(let op, let axes, let keep): return [Reduction.reduceONNX(op, axes, keep, b, x)]
        case .argReduce(let op, let axis, let keep):
            return b.node(op == .argmax ? "ArgMax" : "ArgMin", x.names,
                          [ONNXAttribute("axis", .int(axis)), ONNXAttribute("keepdims", .int(keep ? 1 : 0))], outputs: 1)
        case .cumsum(let axis, let reverse):
            return b.node("CumSum", [x.names[0], b.int64s([axis])], [ONNXAttribute("reverse", .int(reverse ? 1 : 0))], outputs: 1)
        case .argsort(let axis, let descending): return [Sorting.argsortONNX(axis, descending, b, x)]
        case .reshape: return [Movement.reshapeONNX(b, x)]
        case .permute(let p): return b.node("Transpose", x.names, [ONNXAttribute("perm", .ints(p))], outputs: 1)
        case .expand: return [Movement.expandONNX(b, x)]
        case .slice(let ranges): return [try Movement.sliceONNX(ranges, b, x)]
        case .pad(let padding, let value): return [Movement.padONNX(padding, value, b, x)]
        case .concat(let axis): return b.node("Concat", x.names, [ONNXAttribute("axis", .int(axis))], outputs: 1)
        case .flip(let axes): return [Movement.flipONNX(axes, b, x)]
        case .copy, .stopGradient: return b.node("Identity", x.names, [], outputs: 1)
        case .gather(let axis): return b.node("GatherElements", x.names, [ONNXAttribute("axis", .int(axis))], outputs: 1)
        case .scatterAdd(let axis): return [try Indexing.scatterAddONNX(axis, b, x)]
        case .indexSelect(let axis): return b.node("Gather", x.names, [ONNXAttribute("axis", .int(axis))], outputs: 1)
        case .indexAdd(let axis): return [try Indexing.indexAddONNX(axis, b, x)]
        case .matmul: return b.node("MatMul", x.names, [], outputs: 1)
        case .conv2d(let c): return [Convolution.conv2dONNX(c, b, x)]
        case .maxPool2d(let c): return [Pooling.poolONNX("MaxPool", c, b, x)]
        case .avgPool2d(let c): return [Pooling.poolONNX("AveragePool", c, b, x)]
        case .batchNorm(let e): return Normalization.batchNormONNX(e, b, x)
        case .layerNorm(let axes, let e): return Normalization.layerNormONNX(axes, e, b, x)
        case .attention(let c): return Attention.onnx(c, b, x)
        case .recurrence(let c): return try Recurrence.onnx(c, b, x)
        case .conv2dBackwardInput, .conv2dBackwardWeight, .maxPool2dBackward, .avgPool2dBackward,
             .batchNormBackward, .layerNormBackward, .attentionBackward, .recurrenceBackward, .randomBits:
            throw .training(self)
        case .custom(let function):
            // The exporter inlines custom functions (Graph.inliningCustomFunctions) but those with state of their own.
            throw ONNXMappingError("custom<\(function.name)> draws random numbers or writes into captured tensors inside its "
                                   + "forward function, which export cannot inline: make those outside the customVJP function")
        case .fused:
            throw ONNXMappingError("\(name) is made by compile's fusion: export the traced function itself, not a compiled graph")
        }
    }
}
