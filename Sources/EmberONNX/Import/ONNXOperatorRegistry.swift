import Ember

/// One converter: how an ONNX operator, from an opset version on, becomes Ember operations.
/// The registry keeps every version an operator changed in; a node uses the newest one not
/// newer than its model's opset (onnx2torch's and burn-onnx's design).
struct ONNXOperator {
    typealias Convert = (ONNXNodeContext) throws -> [Tensor]
    let name: String
    let sinceVersion: Int
    /// Shape and Size read only their input's shape, which is known even while tracing.
    let readsShapeOnly: Bool
    let convert: Convert

    init(_ name: String, since sinceVersion: Int = 1, readsShapeOnly: Bool = false,
         _ convert: @escaping Convert) {
        self.name = name
        self.sinceVersion = sinceVersion
        self.readsShapeOnly = readsShapeOnly
        self.convert = convert
    }
}

enum ONNXOperatorRegistry {
    static let operators: [String: [ONNXOperator]] = {
        let families = [ONNXElementwiseOperators.all, ONNXMovementOperators.all, ONNXReductionOperators.all,
                        ONNXNeuralNetworkOperators.all, ONNXIndexingOperators.all, ONNXRecurrentOperators.all, ONNXLossOperators.all,
                        ONNXQuantizationOperators.all, ONNXAttentionOperators.all, ONNXLanguageModelOperators.all,
                        ONNXSignalOperators.all, ONNXBitwiseOperators.all, ONNXDetectionOperators.all, ONNXGridSampleOperators.all]
        return Dictionary(grouping: families.flatMap { $0 }, by: \.name)
            .mapValues { $0.sorted { $0.sinceVersion > $1.sinceVersion } }
    }()

    /// The converter for `name` in opset `version` of the default domain, if any.
    static func converter(_ name: String, opset version: Int) -> ONNXOperator? {
        operators[name]?.first { $0.sinceVersion <= version }
    }

    /// Operator names with a converter, sorted (for `ember summary` and the README).
    static var supportedNames: [String] { operators.keys.sorted() }
}
