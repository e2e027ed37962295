import Ember
import EmberNN

extension ONNXExporter {
    /// A functional model (Keras's `Model`) with its inputs and outputs under their names, in
    /// evaluation mode. The batch axis is dynamic (`batch`), and so is every axis its `Input`
    /// left open (`NAME_AXIS`, traced at `openAxisSize`).
    public static func export(_ model: FunctionalModel, batch: Int = 2, openAxisSize: Int = 8,
                              options: ONNXExportOptions = ONNXExportOptions()) throws -> Onnx_ModelProto {
        let inputs = zip(model.inputNames, model.inputs).map { name, input in
            var axes = [0: "batch"]
            let shape = [batch] + input.shape.enumerated().map { index, size -> Int in
                if let size { return size }
                axes[index + 1] = "\(name)_\(index + 1)"
                return openAxisSize
            }
            return ONNXInput(name, shape, input.dtype, dynamicAxes: axes)
        }
        return try exportInEvaluationMode(model) {
            try export(inputs: inputs, outputs: model.outputNames, parameters: stateNames(model), options: options) { model($0) }
        }
    }
}
