/// The tensors a served model takes and gives, as both protocols describe them: a name, an
/// Open Inference Protocol data type and a shape whose first size (-1) is the batch.
public struct TensorSpec: Equatable, Sendable {
    public let name: String
    public let datatype: DataType
    public let shape: [Int]
}

/// Open Inference Protocol tensor data types (TensorFlow's in `tensorFlowName`). Ember reads
/// numbers of every width and strings; it answers float32 and strings.
public enum DataType: String, CaseIterable, Sendable {
    case bool = "BOOL", uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
    case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
    case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64", bytes = "BYTES"

    var isNumeric: Bool { self != .bytes && self != .bool }

    /// TensorFlow's `DataType` enum name, for TF Serving's metadata.
    var tensorFlowName: String {
        switch self {
        case .bool: return "DT_BOOL"
        case .uint8: return "DT_UINT8"
        case .uint16: return "DT_UINT16"
        case .uint32: return "DT_UINT32"
        case .uint64: return "DT_UINT64"
        case .int8: return "DT_INT8"
        case .int16: return "DT_INT16"
        case .int32: return "DT_INT32"
        case .int64: return "DT_INT64"
        case .fp16: return "DT_HALF"
        case .fp32: return "DT_FLOAT"
        case .fp64: return "DT_DOUBLE"
        case .bytes: return "DT_STRING"
        }
    }
}

/// A served model's one input and its outputs.
public struct Signature: Equatable, Sendable {
    public let input: TensorSpec
    public let outputs: [TensorSpec]
    /// Whether `:classify` answers (the model has class names).
    public let classifies: Bool
}
