import EmberIO

/// `tf.train.Example`: named features, each a list of byte strings, floats or 64-bit integers
/// (tensorflow/core/example/example.proto and feature.proto), the usual contents of a
/// TFRecord file. Encoded as Python's `SerializeToString(deterministic=True)` does (features
/// sorted by name); decoded from any valid serialization, unknown fields skipped.
public struct Example: Equatable, Sendable {
    /// One feature's values (the `Feature` message's `kind`).
    public enum Feature: Equatable, Sendable {
        case bytes([[UInt8]])
        case floats([Float])
        case int64s([Int64])

        /// The kind's name as TensorFlow's parse errors say it.
        var kindName: String {
            switch self {
            case .bytes: return "bytes_list"
            case .floats: return "float_list"
            case .int64s: return "int64_list"
            }
        }

        var count: Int {
            switch self {
            case .bytes(let values): return values.count
            case .floats(let values): return values.count
            case .int64s(let values): return values.count
            }
        }
    }

    public var features: [String: Feature]

    public init(_ features: [String: Feature] = [:]) {
        self.features = features
    }

    public subscript(name: String) -> Feature? {
        get { features[name] }
        set { features[name] = newValue }
    }

    /// The serialized message: Example { Features features = 1 { map<string, Feature> feature = 1 } }.
    public var serialized: [UInt8] {
        var writer = ProtobufWriter()
        writer.message(1) { features in
            for name in self.features.keys.sorted() {
                // A map entry is a message of key (1) and value (2).
                features.message(1) { entry in
                    entry.string(1, name)
                    entry.message(2) { feature in
                        // Feature's oneof: bytes_list 1, float_list 2, int64_list 3, each a
                        // message whose field 1 holds the values (numbers packed).
                        switch self.features[name]! {
                        case .bytes(let values):
                            feature.message(1) { list in for value in values { list.bytes(1, value, always: true) } }
                        case .floats(let values):
                            feature.message(2) { $0.packedFloats(1, values) }
                        case .int64s(let values):
                            feature.message(3) { $0.packedInt64s(1, values) }
                        }
                    }
                }
            }
        }
        return writer.bytes
    }

    /// Decodes a serialized Example. A feature whose kind is not set (an empty `Feature`
    /// message) is left out, as TensorFlow's parser treats it as missing.
    public init(serialized bytes: ArraySlice<UInt8>) throws(ProtobufError) {
        var features = [String: Feature]()
        var example = ProtobufReader(bytes)
        while let (field, value) = try example.next() {
            guard field == 1 else { continue }
            var map = ProtobufReader(try Self.message(value, "Example.features"))
            while let (field, value) = try map.next() {
                guard field == 1 else { continue }
                var name = ""
                var feature: Feature?
                var entry = ProtobufReader(try Self.message(value, "Features.feature"))
                while let (field, value) = try entry.next() {
                    switch field {
                    case 1:
                        guard let text = String(validating: try Self.message(value, "a feature's name"), as: UTF8.self) else {
                            throw ProtobufError(offset: entry.offset, problem: "a feature's name is not UTF-8")
                        }
                        name = text
                    case 2:
                        feature = try Self.feature(try Self.message(value, "feature \"\(name)\""))
                    default:
                        continue
                    }
                }
                // A repeated key: the last entry wins, as protobuf's map parsing does.
                features[name] = feature
            }
        }
        self.features = features
    }

    private static func feature(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> Feature? {
        var reader = ProtobufReader(bytes)
        var kind: Feature?
        while let (field, value) = try reader.next() {
            switch field {
            case 1: kind = .bytes(try byteStrings(try message(value, "bytes_list")))
            case 2: kind = .floats(try floats(try message(value, "float_list")))
            case 3: kind = .int64s(try int64s(try message(value, "int64_list")))
            default: continue
            }
        }
        return kind
    }

    private static func byteStrings(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> [[UInt8]] {
        var reader = ProtobufReader(bytes)
        var values = [[UInt8]]()
        while let (field, value) = try reader.next() {
            guard field == 1 else { continue }
            values.append(Array(try message(value, "a bytes_list value")))
        }
        return values
    }

    // Repeated numbers come packed (proto3's default) or one per field; both are read.
    private static func floats(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> [Float] {
        var reader = ProtobufReader(bytes)
        var values = [Float]()
        while let (field, value) = try reader.next() {
            guard field == 1 else { continue }
            switch value {
            case .lengthDelimited(let packed): values += try ProtobufReader.packedFloats(packed)
            case .fixed32(let bits): values.append(Float(bitPattern: bits))
            default: throw ProtobufError(offset: reader.offset, problem: "a float_list value of a wrong wire type (a float is fixed32)")
            }
        }
        return values
    }

    private static func int64s(_ bytes: ArraySlice<UInt8>) throws(ProtobufError) -> [Int64] {
        var reader = ProtobufReader(bytes)
        var values = [Int64]()
        while let (field, value) = try reader.next() {
            guard field == 1 else { continue }
            switch value {
            case .lengthDelimited(let packed): values += try ProtobufReader.packedVarints(packed).map { Int64(bitPattern: $0) }
            case .varint(let bits): values.append(Int64(bitPattern: bits))
            default: throw ProtobufError(offset: reader.offset, problem: "an int64_list value of a wrong wire type (an int64 is a varint)")
            }
        }
        return values
    }

    private static func message(_ value: ProtobufReader.Value, _ what: String) throws(ProtobufError) -> ArraySlice<UInt8> {
        guard case .lengthDelimited(let bytes) = value else {
            throw ProtobufError(offset: 0, problem: "\(what) is not length-delimited (a wrong wire type)")
        }
        return bytes
    }
}
