/// Reading the protobuf wire format one field at a time, the counterpart of `ProtobufWriter`.
/// Every length is checked against the bytes left before it is used, so any input gives
/// fields or a `ProtobufError`, never a read past the end. Unknown fields are the caller's to
/// skip (proto3 keeps reading), as are fields repeated where one was expected (the last wins).
public struct ProtobufReader {
    /// One field's value as the wire type carries it.
    public enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// How far into the message the reader is, in bytes.
    public var offset: Int { position - bytes.startIndex }

    /// The next field, or nil at the end of the message.
    public mutating func next() throws(ProtobufError) -> (field: Int, value: Value)? {
        guard position < bytes.endIndex else { return nil }
        let start = offset
        let key = try varint()
        let field = key >> 3
        guard field >= 1 && field <= 0x1FFF_FFFF else {
            throw ProtobufError(offset: start, problem: "field number \(field) (allowed: 1 to 536870911)")
        }
        switch key & 7 {
        case 0:
            return (Int(field), .varint(try varint()))
        case 1:
            return (Int(field), .fixed64(try littleEndian(UInt64.self, field: field)))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw ProtobufError(offset: start, problem: "field \(field) declares \(length) bytes, only \(bytes.endIndex - position) are left")
            }
            let value = bytes[position..<position + Int(length)]
            position += Int(length)
            return (Int(field), .lengthDelimited(value))
        case 5:
            return (Int(field), .fixed32(try littleEndian(UInt32.self, field: field)))
        case let type:
            // 3 and 4 are proto2's deprecated groups, 6 and 7 do not exist.
            throw ProtobufError(offset: start, problem: "field \(field) has wire type \(type) (allowed: 0, 1, 2 and 5)")
        }
    }

    private mutating func varint() throws(ProtobufError) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard position < bytes.endIndex else { throw ProtobufError(offset: start, problem: "truncated: the message ends inside a varint") }
            let byte = bytes[position]
            position += 1
            // The tenth byte holds the top bit only.
            guard shift < 63 || byte <= 1 else { throw ProtobufError(offset: start, problem: "a varint longer than 64 bits") }
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte < 0x80 { return value }
        }
        throw ProtobufError(offset: start, problem: "a varint longer than 10 bytes")
    }

    private mutating func littleEndian<T: FixedWidthInteger>(_ type: T.Type, field: UInt64) throws(ProtobufError) -> T {
        let size = MemoryLayout<T>.size
        guard bytes.endIndex - position >= size else {
            throw ProtobufError(offset: offset, problem: "truncated: field \(field) needs \(size) bytes, only \(bytes.endIndex - position) are left")
        }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[position + index]) << (8 * index) }
        position += size
        return value
    }

    /// The values of a packed repeated varint field (int64, int32, bool, enum).
    public static func packedVarints(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> [UInt64] {
        var reader = ProtobufReader(bytes)
        var values = [UInt64]()
        while reader.position < bytes.endIndex { values.append(try reader.varint()) }
        return values
    }

    /// The values of a packed repeated float field: 4 little-endian bytes each.
    public static func packedFloats(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> [Float] {
        guard bytes.count % 4 == 0 else {
            throw ProtobufError(offset: 0, problem: "packed floats of \(bytes.count) bytes, not a multiple of 4")
        }
        var reader = ProtobufReader(bytes)
        var values = [Float]()
        values.reserveCapacity(bytes.count / 4)
        while reader.position < bytes.endIndex { values.append(Float(bitPattern: try reader.littleEndian(UInt32.self, field: 0))) }
        return values
    }
}

/// Bytes that are not a well-formed protobuf message: where, and what is wrong. The caller
/// names the file and message and makes it a `FileError`.
public struct ProtobufError: Error, Sendable {
    /// Bytes from the start of the message being read.
    public let offset: Int
    public let problem: String

    public init(offset: Int, problem: String) {
        self.offset = offset
        self.problem = problem
    }
}
