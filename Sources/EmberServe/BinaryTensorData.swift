import Foundation

/// Triton's binary tensor data extension of the Open Inference Protocol (tritonclient's
/// default, `binary_data=True`): the body is a JSON header of `Inference-Header-Content-Length`
/// bytes followed by the tensors' raw bytes, each tensor's share named by its
/// `parameters.binary_data_size`. Numbers are little-endian; a BYTES element is a 4-byte
/// little-endian length and its bytes.
enum BinaryTensorData {
    static let headerField = "inference-header-content-length"

    /// The JSON header and the binary section of a body whose header is `declared` bytes long.
    static func split(_ body: [UInt8], declared: String) throws -> (json: [UInt8], binary: ArraySlice<UInt8>) {
        guard let length = Int(declared), length >= 0, length <= body.count else {
            throw RequestError(.badRequest, "Inference-Header-Content-Length: must be a whole number from 0 to the body's \(body.count) bytes, got '\(declared)'")
        }
        return (Array(body[..<length]), body[length...])
    }

    /// The `count` elements of a `datatype` tensor in `bytes`, as the JSON values the same
    /// tensor's `data` would hold: numbers, booleans, or strings — BYTES elements as UTF-8
    /// `text`, or else as base64 (the form JSON requests give image files in).
    static func values(_ bytes: ArraySlice<UInt8>, datatype: DataType, count: Int, text: Bool, field: String) throws -> [JSONValue] {
        if datatype == .bytes { return try strings(bytes, count: count, text: text, field: field) }
        let size = elementSize(datatype)
        let (needed, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, bytes.count == needed else {
            throw RequestError(.badRequest, "\(field): \(bytes.count) bytes of binary data; \(count) \(datatype.rawValue) values take \(needed)")
        }
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                let offset = index * size
                switch datatype {
                case .bool: return .bool(raw[offset] != 0)
                case .uint8: return .number(Double(raw[offset]))
                case .int8: return .number(Double(Int8(bitPattern: raw[offset])))
                case .uint16: return .number(Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
                case .int16: return .number(Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self))))
                case .uint32: return .number(Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                case .int32: return .number(Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))))
                case .uint64:
                    let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    return value <= UInt64(Int64.max) ? .integer(Int64(value)) : .number(Double(value))
                case .int64: return .integer(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                case .fp16: return .number(Double(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))))
                case .fp32: return .number(Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))))
                case .fp64: return .number(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
                case .bytes: preconditionFailure("BYTES is read by strings(_:count:field:)")
                }
            }
        }
    }

    private static func elementSize(_ datatype: DataType) -> Int {
        switch datatype {
        case .bool, .uint8, .int8, .bytes: return 1
        case .uint16, .int16, .fp16: return 2
        case .uint32, .int32, .fp32: return 4
        case .uint64, .int64, .fp64: return 8
        }
    }

    private static func strings(_ bytes: ArraySlice<UInt8>, count: Int, text: Bool, field: String) throws -> [JSONValue] {
        var values: [JSONValue] = []
        var position = bytes.startIndex
        for index in 0..<count {
            guard bytes.endIndex - position >= 4 else {
                throw RequestError(.badRequest, "\(field): the binary data ends before BYTES element \(index)'s 4-byte length")
            }
            let length = Int(bytes[position]) | Int(bytes[position + 1]) << 8 | Int(bytes[position + 2]) << 16 | Int(bytes[position + 3]) << 24
            position += 4
            guard bytes.endIndex - position >= length else {
                throw RequestError(.badRequest, "\(field): BYTES element \(index) is \(length) bytes long, but \(bytes.endIndex - position) are left")
            }
            let element = bytes[position..<(position + length)]
            position += length
            if text {
                guard let string = String(validating: element, as: UTF8.self) else {
                    throw RequestError(.badRequest, "\(field): BYTES element \(index) is not UTF-8 text")
                }
                values.append(.string(string))
            } else {
                values.append(.string(Data(element).base64EncodedString()))
            }
        }
        guard position == bytes.endIndex else {
            throw RequestError(.badRequest, "\(field): \(bytes.endIndex - position) bytes of binary data are left after the \(count) BYTES elements")
        }
        return values
    }

    /// Numbers of a numeric or BOOL `datatype` as the binary section holds them.
    /// INT64 elements, exactly, little-endian.
    static func bytes(_ integers: [Int64]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(integers.count * 8)
        for value in integers { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        return bytes
    }

    static func bytes(_ values: [Double], datatype: DataType) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * elementSize(datatype))
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { bytes += $0 } }
        // Int64.max is 2^63 as a Double, which no conversion to Int64 takes.
        func integer<T: FixedWidthInteger>(_ value: Double) -> T {
            value.isNaN ? 0 : value >= Double(T.max) ? T.max : value <= Double(T.min) ? T.min : T(value)
        }
        for value in values {
            switch datatype {
            case .bool: bytes.append(value != 0 ? 1 : 0)
            case .uint8: bytes.append(integer(value) as UInt8)
            case .int8: append(integer(value) as Int8)
            case .uint16: append((integer(value) as UInt16).littleEndian)
            case .int16: append((integer(value) as Int16).littleEndian)
            case .uint32: append((integer(value) as UInt32).littleEndian)
            case .int32: append((integer(value) as Int32).littleEndian)
            case .uint64: append((integer(value) as UInt64).littleEndian)
            case .int64: append((integer(value) as Int64).littleEndian)
            case .fp16: append(Float16(value).bitPattern.littleEndian)
            case .fp32: append(Float(value).bitPattern.littleEndian)
            case .fp64: append(value.bitPattern.littleEndian)
            case .bytes: preconditionFailure("BYTES elements are written by bytes(_ strings:)")
            }
        }
        return bytes
    }

    /// BYTES elements as the binary section holds them.
    static func bytes(_ strings: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for string in strings {
            let utf8 = Array(string.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes += $0 }
            bytes += utf8
        }
        return bytes
    }
}
