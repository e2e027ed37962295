import Ember
import EmberNN
import Foundation

/// Exports traceable functions and modules to ONNX models.
///
/// The function is traced (`trace`) — at its example sizes, and once more per dynamic axis
/// (see `SymbolicTrace`) — and each primitive is written by its mapping (`Primitive.onnx`).
/// Captured tensors become initializers named by their state-dict keys; tensors declared as
/// state (a key-value cache) become inputs, and what the function writes into them outputs.
/// Only inference graphs export: derivatives and random numbers (dropout in training mode)
/// throw, naming the primitive.
public enum ONNXExporter {
    /// The model of `function` over `inputs`, with outputs named `outputs`. `parameters` name
    /// the captured tensors (state-dict keys; the first name of a tensor wins).
    public static func export(inputs: [ONNXInput], outputs: [String], parameters: [(String, Tensor)] = [],
                              options: ONNXExportOptions = ONNXExportOptions(),
                              _ function: @escaping ([Tensor]) -> [Tensor]) throws -> Onnx_ModelProto {
        try export(inputs: inputs, outputs: outputs, parameters: parameters, options: options) { _, _ in function }
    }

    /// The model of a function with state: `preparing` is called before each trace with the
    /// inputs' specs (sizes vary between traces), declares the captured tensors that are inputs
    /// and outputs of the model (`ONNXStateScope.state`), made for those sizes, and returns the
    /// function to trace.
    public static func export(inputs: [ONNXInput], outputs: [String], parameters: [(String, Tensor)] = [],
                              options: ONNXExportOptions = ONNXExportOptions(),
                              preparing: @escaping (ONNXStateScope, [TensorSpec]) -> ([Tensor]) -> [Tensor]) throws -> Onnx_ModelProto {
        let function = preparing
        guard ONNXExportOptions.supportedOpsets.contains(options.opset) else {
            throw ONNXExportError("opset \(options.opset) is not supported: choose one of 13 to 21")
        }
        let names = inputs.map(\.name) + outputs
        if let repeated = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ONNXExportError("the name \(repeated) is given to two inputs or outputs")
        }
        let traced = try SymbolicTrace(inputs: inputs, function: function)
        guard traced.graph.outputs.count == outputs.count else {
            throw ONNXExportError("the function returns \(traced.graph.outputs.count) tensors, and \(outputs.count) output names were given")
        }
        var writer = try GraphWriter(traced, options: options, parameters: parameters, outputs: outputs)
        let graph = try writer.write(options)
        var model = Onnx_ModelProto()
        model.irVersion = irVersion(opset: options.opset)
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(options.opset)
        model.opsetImport = [opset]
        model.producerName = ONNXExportOptions.producerName
        model.producerVersion = ONNXExportOptions.producerVersion
        model.modelVersion = Int64(options.modelVersion)
        model.docString = options.docString
        model.metadataProps = options.metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        model.graph = graph
        return model
    }

    /// `module`'s forward pass of one input, named `input`, to one output, named `output`,
    /// in evaluation mode. Weights are named by the module's state-dict keys.
    public static func export(_ module: Module & Layer, input: ONNXInput, output: String = "output",
                              options: ONNXExportOptions = ONNXExportOptions()) throws -> Onnx_ModelProto {
        try exportInEvaluationMode(module) {
            try export(inputs: [input], outputs: [output], parameters: stateNames(module), options: options) { x in [module(x[0])] }
        }
    }

    /// The module's tensors by state-dict key: parameters first (one name for a tied weight, the
    /// one PyTorch's exporter keeps), then buffers, then the other keys.
    public static func stateNames(_ module: Module) -> [(String, Tensor)] {
        module.namedParameters() + module.namedBuffers() + module.stateDict().sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Runs `body` with `module` in evaluation mode, restoring its mode after.
    public static func exportInEvaluationMode<T>(_ module: Module, _ body: () throws -> T) rethrows -> T {
        let wasTraining = module.isTraining
        _ = module.eval()
        defer { if wasTraining { _ = module.train() } }
        return try body()
    }

    /// The IR version that goes with an opset (onnx's `helper.VERSION_TABLE`).
    static func irVersion(opset: Int) -> Int64 {
        switch opset {
        case ...14: return 7
        case 15...18: return 8
        case 19...20: return 9
        default: return 10
        }
    }
}
