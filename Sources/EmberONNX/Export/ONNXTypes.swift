import Ember
import Foundation

/// Ember's dtypes as ONNX's TensorProto data types, both ways.
extension DType {
    var onnxDataType: Onnx_TensorProto.DataType {
        switch self {
        case .bool: return .bool
        case .int32: return .int32
        case .int64: return .int64
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .float32: return .float
        case .float64: return .double
        }
    }
}

extension Onnx_TensorProto {
    /// The tensor's elements, row-major and little-endian (as Ember stores them), as an
    /// initializer named `name`.
    init(_ tensor: Tensor, name: String) {
        self.init()
        self.name = name
        dims = tensor.shape.map(Int64.init)
        dataType = Int32(tensor.dtype.onnxDataType.rawValue)
        guard tensor.count > 0 else { return }
        let dense = noGrad { tensor.contiguous() }
        var bytes = Data(count: dense.count * dense.dtype.byteSize)
        bytes.withUnsafeMutableBytes { dense.backend.download(dense, into: $0) }
        rawData = bytes
    }
}

extension Onnx_ValueInfoProto {
    /// A tensor value's type: its dtype and dimensions, dynamic ones named (`batch`).
    init(name: String, dtype: DType, dimensions: [ONNXDimension]) {
        self.init()
        self.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(dtype.onnxDataType.rawValue)
        tensorType.shape.dim = dimensions.map { dimension in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch dimension {
            case .fixed(let value): dim.dimValue = Int64(value)
            case .dynamic: dim.dimParam = dimension.symbol
            }
            return dim
        }
        type.tensorType = tensorType
    }
}

extension ONNXDimension {
    /// The dimension as a symbol of ONNX shapes: `batch`, `sequence`, `batch*12`.
    var symbol: String {
        switch self {
        case .fixed(let value): return "\(value)"
        case .dynamic(let coefficient, let exponents):
            var factors = exponents.sorted { $0.key < $1.key }.flatMap { Array(repeating: $0.key, count: $0.value) }
            if coefficient != 1 { factors.append("\(coefficient)") }
            return factors.joined(separator: "*")
        }
    }
}

extension ONNXAttribute {
    var proto: Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        switch value {
        case .int(let v):
            attribute.type = .int
            attribute.i = Int64(v)
        case .ints(let v):
            attribute.type = .ints
            attribute.ints = v.map(Int64.init)
        case .float(let v):
            attribute.type = .float
            attribute.f = Float(v)
        case .string(let v):
            attribute.type = .string
            attribute.s = Data(v.utf8)
        case .dtype(let t):
            attribute.type = .int
            attribute.i = Int64(t.onnxDataType.rawValue)
        }
        return attribute
    }
}
