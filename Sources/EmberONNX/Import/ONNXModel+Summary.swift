import Ember

extension ONNXModel {
    /// What `ember summary MODEL.onnx` prints: producer and opset, inputs and outputs with
    /// their shapes, the parameters, and the operators with how many nodes use each.
    public var summaryText: String {
        var lines = ["ONNX model: opset \(opset)" + (producer.isEmpty ? "" : ", produced by \(producer)")]
        for (title, values) in [("inputs", inputs), ("outputs", outputs)] {
            lines.append("\(title):")
            for value in values { lines.append("  \(value.name)  \(value.dtype) \(value.shapeDescription)") }
        }
        let parameters = namedParameters()
        lines.append("parameters: \(parameters.reduce(0) { $0 + $1.1.count }) in \(parameters.count) initializers"
                     + (constantSlots.isEmpty ? "" : " (+\(constantSlots.count) integer constants)"))
        lines.append("nodes: \(nodes.count)")
        for (op, count) in operatorCounts.sorted(by: { ($0.count, $1.op) > ($1.count, $0.op) }) {
            lines.append("  \(op.padding(toLength: max(op.count, 24), withPad: " ", startingAt: 0)) \(count)")
        }
        return lines.joined(separator: "\n")
    }
}
