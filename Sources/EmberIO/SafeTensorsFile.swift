import Ember
import Foundation

#if _endian(big)
#error("safetensors data is little-endian and is copied as is: a big-endian host would need byte swapping")
#endif

/// An opened safetensors file, like Python's `safe_open`: the header is parsed and validated
/// when it opens and the file is memory-mapped, so `tensor(named:)` copies out only the
/// tensors asked for; the rest of a large file is never read from disk.
///
/// Loaded dtypes: F64, F32, F16, BF16, I64, I32 and BOOL as the same Ember dtype (any nonzero
/// BOOL byte reads as true); U8, I8, I16 and U16 widen to int32 and U32 to int64, exactly.
/// U64, complex and the 4-, 6- and 8-bit float types have no Ember dtype: asking for such a
/// tensor throws, while the file's other tensors still load.
///
/// As with any memory-mapped file, the file must not be truncated while it is open.
/// Tensors may be loaded from several threads at once.
public final class SafeTensorsFile: Sendable {
    /// The file's path (or the name given to `SafeTensors.decode`), used in errors.
    public let source: String
    /// The header's `__metadata__` (empty when there is none).
    public var metadata: [String: String] { header.metadata }
    /// Tensor names in the order of their data in the file.
    public var names: [String] { header.names }

    private let header: SafeTensorsHeader
    /// The whole file; memory-mapped when opened from a URL.
    private let bytes: Data
    private let dataStart: Int

    /// Opens and validates `url`, mapping it into memory.
    public convenience init(contentsOf url: URL) throws {
        try self.init(bytes: FileError.contents(of: url, format: .safetensors, options: .alwaysMapped), source: url.path)
    }

    /// Validates a whole file held in memory.
    init(bytes: Data, source: String) throws(FileError) {
        let prefix = [UInt8](bytes.prefix(8))
        let length = try SafeTensorsHeader.length(prefix: prefix, fileSize: bytes.count, source: source)
        let json = [UInt8](bytes.dropFirst(8).prefix(length))
        header = try SafeTensorsHeader(json: json, dataByteCount: bytes.count - 8 - length, source: source)
        self.bytes = bytes
        self.source = source
        dataStart = 8 + length
    }

    /// The shape and the dtype `tensor(named:)` returns for `name`.
    public func spec(_ name: String) throws -> TensorSpec {
        let entry = try self.entry(name)
        return TensorSpec(entry.shape, try entry.loadedDType(name: name, source: source))
    }

    /// Copies one tensor out of the file.
    public func tensor(named name: String) throws -> Tensor {
        let entry = try self.entry(name)
        let dtype = try entry.loadedDType(name: name, source: source)
        let tensor = Tensor(uninitializedShape: entry.shape, dtype: dtype)
        bytes.withUnsafeBytes { file in
            let raw = UnsafeRawBufferPointer(rebasing: file[(dataStart + entry.range.lowerBound)..<(dataStart + entry.range.upperBound)])
            switch entry.dtype {
            case .bool: upload(raw.map { $0 == 0 ? UInt8(0) : 1 }, to: tensor)
            case .u8: upload(Self.widened(raw, from: UInt8.self, to: Int32.self), to: tensor)
            case .i8: upload(Self.widened(raw, from: Int8.self, to: Int32.self), to: tensor)
            case .i16: upload(Self.widened(raw, from: Int16.self, to: Int32.self), to: tensor)
            case .u16: upload(Self.widened(raw, from: UInt16.self, to: Int32.self), to: tensor)
            case .u32: upload(Self.widened(raw, from: UInt32.self, to: Int64.self), to: tensor)
            // The rest are stored as loaded (types Ember lacks were refused above).
            default: tensor.backend.upload(raw, to: tensor.storage, at: 0)
            }
        }
        return tensor
    }

    /// Every tensor of the file, by name.
    public func tensors() throws -> [String: Tensor] {
        var tensors = [String: Tensor]()
        for name in names { tensors[name] = try tensor(named: name) }
        return tensors
    }

    private func entry(_ name: String) throws(FileError) -> SafeTensorsHeader.Entry {
        guard let entry = header.entries[name] else {
            throw FileError(.safetensors, path: source, problem: "there is no tensor named \(JSONWriter.quoted(name)) among the file's \(names.count) tensors")
        }
        return entry
    }

    private func upload<T>(_ values: [T], to tensor: Tensor) {
        values.withUnsafeBytes { tensor.backend.upload($0, to: tensor.storage, at: 0) }
    }

    /// Little-endian integers of type `Source` (at any alignment), each widened to `Target`.
    private static func widened<Source: FixedWidthInteger, Target: FixedWidthInteger>(
        _ raw: UnsafeRawBufferPointer, from _: Source.Type, to _: Target.Type
    ) -> [Target] {
        (0..<(raw.count / MemoryLayout<Source>.size)).map {
            Target(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Source>.size, as: Source.self))
        }
    }
}
