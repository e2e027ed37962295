import Ember
import Foundation

/// Hugging Face's safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// header (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}`), then the tensors' bytes, row-major and little-endian,
/// at offsets relative to the end of the header.
///
/// Files are validated as strictly as the Rust reader validates them; anything malformed
/// throws a `FileError` naming the file and the problem. What we write is
/// byte-identical to Python's `safetensors.torch.save_file` for the same tensors (see
/// `SafeTensorsEncoder`); dtype conversions on reading are listed on `SafeTensorsFile`.
public enum SafeTensors {
    /// All tensors and the metadata of a file.
    public static func read(contentsOf url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try SafeTensorsFile(contentsOf: url)
        return (try file.tensors(), file.metadata)
    }

    /// All tensors of a file.
    public static func load(contentsOf url: URL) throws -> [String: Tensor] {
        try SafeTensorsFile(contentsOf: url).tensors()
    }

    /// Only the named tensors of a file, each copied out of the memory-mapped file; the others'
    /// data is never read. Throws if a name is missing. To pull tensors one at a time (a
    /// sharded checkpoint, a layer at a time), keep a `SafeTensorsFile` open instead.
    public static func load(contentsOf url: URL, names: some Sequence<String>) throws -> [String: Tensor] {
        let file = try SafeTensorsFile(contentsOf: url)
        var tensors = [String: Tensor]()
        for name in names { tensors[name] = try file.tensor(named: name) }
        return tensors
    }

    /// Tensors and metadata from the bytes of a whole file; `source` names it in errors.
    public static func decode(_ data: Data, source: String = "<memory>") throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try SafeTensorsFile(bytes: data, source: source)
        return (try file.tensors(), file.metadata)
    }

    /// The bytes of a file holding `tensors` (any layout: views are written by value) and
    /// `metadata` (omitted from the header when empty, as `save_file(metadata=None)` does).
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        let encoder = try SafeTensorsEncoder(tensors, metadata: metadata, source: "<memory>")
        var data = Data(capacity: encoder.byteCount)
        encoder.write { data.append($0.assumingMemoryBound(to: UInt8.self)) }
        return data
    }

    /// Atomic: writes a temporary file in the same directory, then renames it over `url`.
    /// Tensors are streamed to disk one at a time, so the file never sits whole in memory.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let encoder = try SafeTensorsEncoder(tensors, metadata: metadata, source: url.path)
        try AtomicFile.replace(url, format: .safetensors) { append in try encoder.write(to: append) }
    }

    /// Only the header: names, dtypes (as `load` returns them) and shapes, without reading or
    /// mapping tensor data (for sharded checkpoints and listing). The header is validated
    /// against the file's size as fully as by `read`.
    public static func header(contentsOf url: URL) throws -> [String: TensorSpec] {
        try FileError.requireFile(url, format: .safetensors)
        let fileSize: Int
        let json: [UInt8]
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            fileSize = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            let prefix = [UInt8](try handle.read(upToCount: 8) ?? Data())
            let length = try SafeTensorsHeader.length(prefix: prefix, fileSize: fileSize, source: url.path)
            json = [UInt8](try handle.read(upToCount: length) ?? Data())
            guard json.count == length else {
                throw FileError(.safetensors, path: url.path, problem: "the file ended while its header was being read")
            }
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(.safetensors, path: url.path, problem: "cannot be read: \(FileError.systemReason(error))")
        }
        let header = try SafeTensorsHeader(json: json, dataByteCount: fileSize - 8 - json.count, source: url.path)
        var specs = [String: TensorSpec]()
        for (name, entry) in header.entries {
            specs[name] = TensorSpec(entry.shape, try entry.loadedDType(name: name, source: url.path))
        }
        return specs
    }
}
