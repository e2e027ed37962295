import Ember
import Foundation

/// An element `Pipeline.cache(file:)` can write to its cache file and read back.
public protocol CacheSerializable {
    func serialize(into writer: inout CacheWriter)
    init(from reader: inout CacheReader)
}

/// Appends little-endian values to a byte buffer.
public struct CacheWriter {
    public private(set) var bytes: [UInt8] = []

    public mutating func write(_ value: Int) {
        withUnsafeBytes(of: Int64(value).littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Reads what a `CacheWriter` wrote, in order.
public struct CacheReader {
    private let data: Data
    private var offset = 0
    /// Where the bytes come from, for error messages.
    private let source: String

    init(_ data: Data, source: String) {
        self.data = data
        self.source = source
    }

    var isAtEnd: Bool { offset == data.count }

    public mutating func readInt() -> Int {
        let value = read(8) { $0.loadUnaligned(as: Int64.self) }
        return Int(Int64(littleEndian: value))
    }

    /// `count` raw bytes handed to `body`.
    public mutating func read<T>(_ count: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        precondition(count >= 0 && offset + count <= data.count,
                     "CacheReader: \(source) ends early or is corrupt (reading \(count) bytes at \(offset) of \(data.count))")
        defer { offset += count }
        return data.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
    }
}

extension Int: CacheSerializable {
    public func serialize(into writer: inout CacheWriter) { writer.write(self) }
    public init(from reader: inout CacheReader) { self = reader.readInt() }
}

extension Image: CacheSerializable {
    public func serialize(into writer: inout CacheWriter) {
        writer.write(height)
        writer.write(width)
        writer.write(channels)
        pixels.withUnsafeBytes { writer.write($0) }
    }

    public init(from reader: inout CacheReader) {
        let (height, width, channels) = (reader.readInt(), reader.readInt(), reader.readInt())
        let pixels = reader.read(height * width * channels) { [UInt8]($0) }
        self.init(height: height, width: width, channels: channels, pixels: pixels)
    }
}

extension Tensor: CacheSerializable {
    /// dtype, rank, shape, then the row-major element bytes.
    public func serialize(into writer: inout CacheWriter) {
        writer.write(dtype.rawValue)
        writer.write(rank)
        for size in shape { writer.write(size) }
        var bytes = [UInt8](repeating: 0, count: count * dtype.byteSize)
        bytes.withUnsafeMutableBytes { copyBytes(into: $0) }
        bytes.withUnsafeBytes { writer.write($0) }
    }

    public convenience init(from reader: inout CacheReader) {
        let code = reader.readInt()
        guard let dtype = DType(rawValue: code) else { preconditionFailure("CacheReader: unknown dtype code \(code)") }
        let shape = (0..<reader.readInt()).map { _ in reader.readInt() }
        let bytes = reader.read(shape.reduce(1, *) * dtype.byteSize) { [UInt8]($0) }
        self.init(bytes: bytes, shape: shape, dtype: dtype)
    }
}

extension Batch: CacheSerializable {
    public func serialize(into writer: inout CacheWriter) {
        inputs.serialize(into: &writer)
        targets.serialize(into: &writer)
    }

    public init(from reader: inout CacheReader) {
        let inputs = Tensor(from: &reader)
        self.init(inputs: inputs, targets: Tensor(from: &reader))
    }
}
