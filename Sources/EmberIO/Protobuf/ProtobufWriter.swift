/// Just enough of the protobuf wire format to write TensorBoard's and tf.train.Example's
/// messages by hand (six small messages do not earn swift-protobuf and its generator). The
/// caller writes fields in field-number order and proto3 defaults (0, "") are left out, as
/// the reference serializer does, so the bytes match Python's `SerializeToString()`.
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    private enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private mutating func key(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// int64 and enum fields: negative values take ten bytes (two's complement, no zigzag).
    public mutating func int64(_ field: Int, _ value: Int64) {
        guard value != 0 else { return }
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    public mutating func double(_ field: Int, _ value: Double) {
        guard value.bitPattern != 0 else { return }
        key(field, .fixed64)
        littleEndian(value.bitPattern)
    }

    /// Written even when 0: the one float field, `simple_value`, is a oneof member, and a
    /// oneof member left out is read as "no value" (TensorBoard would drop a 0.0 scalar).
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        littleEndian(value.bitPattern)
    }

    /// A `bytes` field or an embedded message; `always` writes it even when empty (a
    /// present-but-empty message differs from an absent one, and repeated bytes keep every entry).
    public mutating func bytes(_ field: Int, _ value: [UInt8], always: Bool = false) {
        guard always || !value.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        bytes(field, inner.bytes, always: true)
    }

    /// Repeated floats, packed (the proto3 default encoding).
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        guard !values.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(values.count * 4))
        for value in values { littleEndian(value.bitPattern) }
    }

    /// Repeated int64s, packed: each a varint (negative values take ten bytes).
    public mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
        guard !values.isEmpty else { return }
        var inner = ProtobufWriter()
        for value in values { inner.varint(UInt64(bitPattern: value)) }
        bytes(field, inner.bytes, always: true)
    }

    /// Repeated doubles, packed (the proto3 default encoding).
    public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        guard !values.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(values.count * 8))
        for value in values { littleEndian(value.bitPattern) }
    }
}
