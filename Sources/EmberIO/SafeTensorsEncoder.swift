import Ember

/// Lays tensors out as the Rust safetensors writer (Python's `save_file`) does, so that our
/// files are byte-identical to theirs: tensors sorted by dtype, widest alignment first, then
/// by name (UTF-8 byte order); compact JSON with `__metadata__` first; the header padded with
/// spaces to a multiple of 8 bytes. Their metadata is a hash map written in random order, so
/// with two or more metadata keys ours (sorted by key) can differ from theirs in that order only.
struct SafeTensorsEncoder {
    /// The 8-byte length and the padded JSON header.
    let header: [UInt8]
    /// The tensors in file order.
    private let tensors: [Tensor]
    let byteCount: Int

    init(_ tensors: [String: Tensor], metadata: [String: String], source: String) throws(FileError) {
        func fail(_ problem: String) -> FileError { FileError(.safetensors, path: source, problem: problem) }
        for (name, tensor) in tensors {
            if name == "__metadata__" { throw fail("a tensor cannot be named __metadata__: the header reserves that key") }
            if tensor.isAbstract { throw fail("tensor \(JSONWriter.quoted(name)) is a traced placeholder without values") }
        }
        let ordered = tensors.sorted { a, b in
            let (ka, kb) = (SafeTensorsDType(a.value.dtype), SafeTensorsDType(b.value.dtype))
            return ka != kb ? ka > kb : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }

        var members = [String]()
        if !metadata.isEmpty {
            let entries = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { JSONWriter.quoted($0.key) + ":" + JSONWriter.quoted($0.value) }
            members.append("\"__metadata__\":{" + entries.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, tensor) in ordered {
            let size = tensor.count * tensor.dtype.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            members.append(JSONWriter.quoted(name) + ":{\"dtype\":\"\(SafeTensorsDType(tensor.dtype).rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var json = Array(("{" + members.joined(separator: ",") + "}").utf8)
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        guard json.count <= SafeTensorsHeader.maxLength else {
            throw fail("the header would be \(json.count) bytes, more than readers accept (\(SafeTensorsHeader.maxLength))")
        }
        header = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * $0)) } + json
        self.tensors = ordered.map(\.value)
        byteCount = header.count + offset
    }

    /// Hands the file's bytes to `sink` in order: the header, then each tensor's elements in
    /// row-major order (views and transposes are made dense first).
    func write(to sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try header.withUnsafeBytes(sink)
        for tensor in tensors where tensor.count > 0 {
            let dense = noGrad { tensor.contiguous() }
            let bytes = [UInt8](unsafeUninitializedCapacity: dense.count * dense.dtype.byteSize) { buffer, initialized in
                dense.backend.download(dense, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = buffer.count
            }
            try bytes.withUnsafeBytes(sink)
        }
    }
}
