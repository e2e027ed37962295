import Ember
import EmberIO
import Foundation

/// ONNX element types as Ember dtypes. Ember has no 8- and 16-bit integers or unsigned
/// 32-bit ones: they are widened to int32 (uint32 to int64), which keeps every value; so are
/// the narrow types (float8, float4 to float32, int4 and int2 to int32: `ONNXNarrowType`).
enum ONNXElementType {
    static func dtype(_ code: Int32) -> DType? {
        switch Onnx_TensorProto.DataType(rawValue: Int(code)) {
        case .float: return .float32
        case .double: return .float64
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .int64: return .int64
        case .int32, .int8, .uint8, .int16, .uint16: return .int32
        case .uint32: return .int64
        case .bool: return .bool
        default: return ONNXNarrowType(code: code)?.dtype
        }
    }

    static func name(_ code: Int32) -> String {
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(code)) else { return "unknown type \(code)" }
        return "\(type)"
    }
}

/// Turns TensorProtos (initializers, Constant nodes' values) into tensors, after checking
/// their dims, type and byte counts; external data is read from files beside the model.
struct ONNXTensorDecoder {
    /// The model file, for error messages; external data paths are relative to its folder.
    let path: String
    /// Tensors larger than this are refused before anything is allocated.
    static let maximumElements = 1 << 34

    func shape(_ proto: Onnx_TensorProto, name: String) throws -> [Int] {
        var count = 1
        var shape = [Int]()
        for dim in proto.dims {
            guard dim >= 0 else { throw error(name, "has a negative dimension \(dim) in dims \(proto.dims)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, product <= Self.maximumElements else {
                throw error(name, "dims \(proto.dims) hold more than \(Self.maximumElements) elements")
            }
            count = product
            shape.append(Int(dim))
        }
        return shape
    }

    func decode(_ proto: Onnx_TensorProto, name: String) throws -> Tensor {
        guard let dtype = ONNXElementType.dtype(proto.dataType) else {
            throw error(name, "has element type \(ONNXElementType.name(proto.dataType)), which Ember cannot hold (supported: float, double, float16, bfloat16, bool and integers)")
        }
        let shape = try shape(proto, name: name)
        let count = shape.reduce(1, *)
        let type = Onnx_TensorProto.DataType(rawValue: Int(proto.dataType))!
        if let narrow = ONNXNarrowType(code: proto.dataType) { return try decode(proto, narrow: narrow, shape: shape, name: name) }
        let width = Self.byteWidth(type)
        if proto.dataLocation == .external {
            return try fromBytes(readExternal(proto, name: name, byteCount: count * width), type: type, shape: shape, dtype: dtype, name: name)
        }
        if proto.hasRawData {
            guard proto.rawData.count == count * width else {
                throw error(name, "raw_data holds \(proto.rawData.count) bytes, but dims \(shape) of \(type) need \(count * width)")
            }
            return try fromBytes(proto.rawData, type: type, shape: shape, dtype: dtype, name: name)
        }
        // Typed fields: float_data, double_data, int64_data, uint64_data, or int32_data (which
        // also holds bool, 8/16-bit integers and the bit patterns of float16/bfloat16).
        let values: [Double]
        switch type {
        case .float: values = proto.floatData.map(Double.init)
        case .double: values = proto.doubleData
        case .int64: values = proto.int64Data.map(Double.init)
        case .uint32: values = proto.uint64Data.map(Double.init)
        case .float16:
            values = proto.int32Data.map { Double(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }
        case .bfloat16:
            values = proto.int32Data.map { Double(Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16)) }
        default: values = proto.int32Data.map(Double.init)
        }
        guard values.count == count else {
            throw error(name, "holds \(values.count) values, but dims \(shape) need \(count)")
        }
        if dtype == .int64 {
            let ints: [Int64] = type == .int64 ? proto.int64Data : values.map { Int64($0) }
            return Tensor(ints, shape: shape)
        }
        return Tensor(doubles: values, shape: shape, dtype: dtype)
    }

    /// Narrow types: raw_data (or external data) packs sub-byte elements, several to a byte;
    /// int32_data holds one packed byte (float8: one element) per entry.
    private func decode(_ proto: Onnx_TensorProto, narrow: ONNXNarrowType, shape: [Int], name: String) throws -> Tensor {
        let count = shape.reduce(1, *), perByte = 8 / narrow.packedBits
        let byteCount = (count + perByte - 1) / perByte
        let bytes: [UInt8]
        if proto.dataLocation == .external {
            bytes = Array(try readExternal(proto, name: name, byteCount: byteCount))
        } else if proto.hasRawData {
            bytes = Array(proto.rawData)
        } else {
            bytes = proto.int32Data.map { UInt8(truncatingIfNeeded: $0) }
        }
        guard let tensor = narrow.tensor(packed: bytes, shape: shape) else {
            throw error(name, "holds \(bytes.count) bytes of \(ONNXElementType.name(proto.dataType)), but dims \(shape) need \(byteCount)")
        }
        return tensor
    }

    static func byteWidth(_ type: Onnx_TensorProto.DataType) -> Int {
        switch type {
        case .double, .int64, .uint64: return 8
        case .float, .int32, .uint32: return 4
        case .float16, .bfloat16, .int16, .uint16: return 2
        default: return 1
        }
    }

    private func fromBytes(_ data: Data, type: Onnx_TensorProto.DataType, shape: [Int], dtype: DType, name: String) throws -> Tensor {
        func load<T>(_: T.Type) -> [T] {
            data.withUnsafeBytes { raw in
                (0..<(raw.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
            }
        }
        switch type {
        case .int8: return Tensor(load(Int8.self).map(Int32.init), shape: shape)
        case .uint8: return Tensor(load(UInt8.self).map(Int32.init), shape: shape)
        case .int16: return Tensor(load(Int16.self).map(Int32.init), shape: shape)
        case .uint16: return Tensor(load(UInt16.self).map(Int32.init), shape: shape)
        case .uint32: return Tensor(load(UInt32.self).map(Int64.init), shape: shape)
        case .bool:
            guard data.allSatisfy({ $0 <= 1 }) else { throw error(name, "is bool but holds a byte other than 0 or 1") }
            fallthrough
        default:
            // The layout of the remaining types is Ember's own (little-endian, IEEE).
            let tensor = Tensor(uninitializedShape: shape, dtype: dtype)
            data.withUnsafeBytes { raw in
                if let base = raw.baseAddress, raw.count > 0 { tensor.baseAddress.copyMemory(from: base, byteCount: raw.count) }
            }
            return tensor
        }
    }

    private func readExternal(_ proto: Onnx_TensorProto, name: String, byteCount: Int) throws -> Data {
        let entries = Dictionary(proto.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        guard let location = entries["location"], !location.isEmpty else {
            throw error(name, "has external data without a location")
        }
        // Only files beside the model (or below its folder): a model must not read /etc/passwd.
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw error(name, "external data location '\(location)' must be a relative path inside the model's folder")
        }
        let offset = try entries["offset"].map { try number($0, "offset", name) } ?? 0
        let length = try entries["length"].map { try number($0, "length", name) } ?? byteCount
        guard length == byteCount else {
            throw error(name, "external data length \(length) does not match dims \(proto.dims) (\(byteCount) bytes)")
        }
        let file = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(location)
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw FileError(.onnx, path: file.path, member: name, problem: "external data file cannot be opened")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard offset <= size, length <= size - offset else {
            throw FileError(.onnx, path: file.path, member: name, problem: "\(length) bytes at offset \(offset) run past the end of the file (\(size) bytes)")
        }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            guard data.count == length else { throw CocoaError(.fileReadCorruptFile) }
            return data
        } catch {
            throw FileError(.onnx, path: file.path, member: name, problem: "external data cannot be read")
        }
    }

    private func number(_ text: String, _ key: String, _ name: String) throws -> Int {
        guard let value = Int(text), value >= 0 else { throw error(name, "external data \(key) '\(text)' is not a non-negative integer") }
        return value
    }

    func error(_ name: String, _ problem: String) -> FileError {
        FileError(.onnx, path: path, member: name, problem: problem)
    }
}
