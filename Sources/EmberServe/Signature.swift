/// The tensors a served model takes and gives, as both protocols describe them: a name, an
/// Open Inference Protocol data type and a shape in which -1 is a size the request chooses
/// (the first, the batch, for batched models).
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

    /// The values an integer type holds (as Doubles, exact to 2^53); nil for other types.
    var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: return 0...255
        case .uint16: return 0...65_535
        case .uint32: return 0...4_294_967_295
        case .uint64: return 0...18_446_744_073_709_549_568  // the largest Double below 2^64
        case .int8: return -128...127
        case .int16: return -32_768...32_767
        case .int32: return -2_147_483_648...2_147_483_647
        case .int64: return -9_223_372_036_854_775_808...9_223_372_036_854_774_784  // the largest Double below 2^63
        case .bool, .fp16, .fp32, .fp64, .bytes: return nil
        }
    }

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

/// A served model's inputs (one for run folders and embedders, the graph's for ONNX models)
/// and its outputs.
public struct Signature: Equatable, Sendable {
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    /// Whether `:classify` answers (the model has class names).
    public let classifies: Bool
}
