import Ember

/// One input of an exported function: its ONNX name, its shape and dtype at the traced size,
/// and which axes are dynamic, by name (`[0: "batch", 1: "sequence"]`). Axes of one name are
/// one size in every input.
public struct ONNXInput: Sendable {
    public var name: String
    public var spec: TensorSpec
    public var dynamicAxes: [Int: String]
    public init(_ name: String, _ shape: [Int], _ dtype: DType = .float32, dynamicAxes: [Int: String] = [:]) {
        self.name = name
        self.spec = TensorSpec(shape, dtype)
        self.dynamicAxes = dynamicAxes
    }
}

/// How to write the model.
public struct ONNXExportOptions: Sendable {
    /// The ONNX opset (`supportedOpsets`): LayerNormalization is native from 17, Gelu from 20.
    public var opset = ONNXExportOptions.defaultOpset
    /// The largest size of dynamic axes on which a constant of the function depends (a causal
    /// mask or a position table made for the traced length): the constant is written at this
    /// size and sliced to the run's. Usually the model's context length for `sequence`.
    public var axisMaxima: [String: Int] = [:]
    /// The graph's name and the model's description and metadata (`metadata_props`).
    public var graphName = "ember"
    public var docString = ""
    public var modelVersion = 1
    public var metadata: [String: String] = [:]

    public static let defaultOpset = 17
    public static let supportedOpsets = 13...21
    public static let producerName = "ember"
    public static let producerVersion = "0.1.0"

    public init(opset: Int = ONNXExportOptions.defaultOpset, axisMaxima: [String: Int] = [:]) {
        self.opset = opset
        self.axisMaxima = axisMaxima
    }
}

/// Why a function could not be exported, in one line.
public struct ONNXExportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A tensor the exported function captures and overwrites in place (`assign`), such as a
/// key-value cache: it becomes a graph input, and its new value a graph output.
public struct ONNXState {
    public let tensor: Tensor
    public let name: String
    public let outputName: String
}

/// Handed to `ONNXExporter.export(inputs:outputs:parameters:options:preparing:)` before each
/// trace: it names the captured tensors that are inputs and outputs of the model rather than
/// weights.
public final class ONNXStateScope {
    public internal(set) var states: [ONNXState] = []
    init() {}

    /// Declares `tensor` (captured by the function) as input `name`; if the function writes
    /// into it, the written value is output `outputName`. Its dynamic axes are found as the
    /// inputs' are, by tracing: make it for the sizes that `preparing` is given.
    public func state(_ tensor: Tensor, name: String, outputName: String) {
        states.append(ONNXState(tensor: tensor, name: name, outputName: outputName))
    }
}
