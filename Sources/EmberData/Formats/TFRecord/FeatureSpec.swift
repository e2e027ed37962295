import Ember
import EmberIO

/// How one feature of an `Example` is parsed (tf.io's `FixedLenFeature` and `VarLenFeature`,
/// and image bytes decoded as `tf.io.decode_image` does).
public enum FeatureSpec: Sendable {
    /// Exactly as many values as `shape` holds, as a tensor of that shape: float32 or float64
    /// from a float_list, int32, int64 or bool from an int64_list. A missing feature takes
    /// `defaultValue` (one value per element) when given, else the record is refused.
    case fixed(shape: [Int], dtype: DType, defaultValue: [Double]? = nil)
    /// Any number of values (none when missing), as a 1-D tensor: a TensorFlow `VarLenFeature`
    /// read densely; pad before batching examples of different lengths.
    case variable(dtype: DType)
    /// One byte string holding an image file, decoded by `Image(encoded:)`: PNG, JPEG and
    /// Netpbm.
    case image
    /// Byte strings kept as they are (any number; none when missing).
    case bytes

    /// The Feature kind a dtype is stored as.
    fileprivate static func kind(of dtype: DType) -> String {
        dtype.isFloatingPoint ? "float_list" : "int64_list"
    }

    /// Traps unless the spec can be parsed at all: a programmer's error, as a bad shape is to an op.
    func validate(name: String) {
        switch self {
        case .fixed(let shape, let dtype, let defaultValue):
            precondition(shape.allSatisfy { $0 >= 0 }, "FeatureSpec: feature \"\(name)\": the shape \(shape) has a negative dimension")
            Self.validate(dtype, name: name)
            let count = shape.reduce(1, *)
            if let defaultValue {
                precondition(defaultValue.count == count,
                             "FeatureSpec: feature \"\(name)\": the default value holds \(defaultValue.count) values, the shape \(shape) \(count)")
                precondition(dtype.isFloatingPoint || defaultValue.allSatisfy { $0.rounded() == $0 && abs($0) <= 0x1p53 },
                             "FeatureSpec: feature \"\(name)\": an integer feature's default values must be whole numbers")
            }
        case .variable(let dtype):
            Self.validate(dtype, name: name)
        case .image, .bytes:
            break
        }
    }

    private static func validate(_ dtype: DType, name: String) {
        precondition([.float32, .float64, .int32, .int64, .bool].contains(dtype),
                      "FeatureSpec: feature \"\(name)\": dtype \(dtype) cannot be parsed (allowed: float32, float64 from float_list; int32, int64, bool from int64_list)")
    }

    /// Why `feature` does not fit this spec, or nil when it does.
    func problem(with feature: Example.Feature?) -> String? {
        switch (self, feature) {
        case (.fixed(_, _, let defaultValue), nil):
            return defaultValue == nil ? "is missing and has no default value" : nil
        case (.variable, nil), (.bytes, nil):
            return nil
        case (.image, nil):
            return "is missing; an image is one bytes_list value"
        case (.fixed(let shape, let dtype, _), let feature?):
            if let wrong = wrongKind(feature, dtype) { return wrong }
            let count = shape.reduce(1, *)
            return feature.count == count ? nil : "holds \(feature.count) values, the shape \(shape) needs \(count)"
        case (.variable(let dtype), let feature?):
            return wrongKind(feature, dtype)
        case (.image, let feature?):
            guard case .bytes(let values) = feature else { return "is a \(feature.kindName), an image is a bytes_list" }
            return values.count == 1 ? nil : "holds \(values.count) byte strings, an image is one"
        case (.bytes, let feature?):
            guard case .bytes = feature else { return "is a \(feature.kindName), expected a bytes_list" }
            return nil
        }
    }

    private func wrongKind(_ feature: Example.Feature, _ dtype: DType) -> String? {
        let expected = Self.kind(of: dtype)
        guard feature.kindName == expected else { return "is a \(feature.kindName), a \(dtype) feature is read from a \(expected)" }
        if dtype == .int32, case .int64s(let values) = feature, let wide = values.first(where: { Int32(exactly: $0) == nil }) {
            return "holds \(wide), which does not fit an int32 feature"
        }
        return nil
    }

    /// The tensor of a feature that `problem(with:)` accepted.
    func tensor(_ feature: Example.Feature?) -> Tensor {
        let shape: [Int]
        let dtype: DType
        switch self {
        case .fixed(let fixedShape, let fixedType, let defaultValue):
            (shape, dtype) = (fixedShape, fixedType)
            if feature == nil { return Self.tensor(defaultValue!, shape: shape, dtype: dtype) }
        case .variable(let variableType):
            (shape, dtype) = ([feature?.count ?? 0], variableType)
        case .image, .bytes:
            preconditionFailure("FeatureSpec.tensor: \(self) features are not tensors")
        }
        switch feature {
        case .floats(let values)?:
            return dtype == .float32 ? Tensor(values, shape: shape) : Tensor(values.map(Double.init), shape: shape)
        case .int64s(let values)?:
            switch dtype {
            case .int64: return Tensor(values, shape: shape)
            case .bool: return Tensor(values.map { $0 != 0 }, shape: shape)
            default: return Tensor(values.map { Int32($0) }, shape: shape)
            }
        case nil, .bytes?:
            return Self.tensor([], shape: shape, dtype: dtype)
        }
    }

    private static func tensor(_ values: [Double], shape: [Int], dtype: DType) -> Tensor {
        switch dtype {
        case .float32: return Tensor(values.map { Float($0) }, shape: shape)
        case .float64: return Tensor(values, shape: shape)
        case .int64: return Tensor(values.map { Int64($0) }, shape: shape)
        case .bool: return Tensor(values.map { $0 != 0 }, shape: shape)
        default: return Tensor(values.map { Int32($0) }, shape: shape)
        }
    }
}

/// An Example parsed by a spec: tensors (fixed and variable features), decoded images, and
/// byte strings, each under its feature's name.
public struct ParsedExample {
    public var tensors: [String: Tensor] = [:]
    public var images: [String: Image] = [:]
    public var bytes: [String: [[UInt8]]] = [:]
}
