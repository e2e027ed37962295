import Ember

/// A parsed and validated safetensors header: each tensor's element type, shape and the byte
/// range of its data. Validation matches the Rust reader's: in offset order the tensors' byte
/// ranges must tile the data buffer exactly, with no overlap, no gap and nothing after the end.
struct SafeTensorsHeader {
    struct Entry {
        let dtype: SafeTensorsDType
        let shape: [Int]
        /// Byte range within the data buffer, which starts right after the header.
        let range: Range<Int>

        /// The Ember dtype the tensor loads as, or an error for types Ember cannot hold.
        func loadedDType(name: String, source: String) throws(FileError) -> DType {
            guard let loaded = dtype.loadedDType else {
                throw FileError(.safetensors, path: source, problem: "tensor \(JSONWriter.quoted(name)) has dtype \(dtype.rawValue), which Ember has no dtype for")
            }
            return loaded
        }
    }

    /// The Rust reader's limit on the header's length; anything larger is not safetensors.
    static let maxLength = 100_000_000

    let entries: [String: Entry]
    /// Tensor names in the order of their data in the file.
    let names: [String]
    let metadata: [String: String]

    /// The length of the JSON header, read from the first 8 bytes (little-endian) of a file
    /// of `fileSize` bytes.
    static func length(prefix: [UInt8], fileSize: Int, source: String) throws(FileError) -> Int {
        guard fileSize >= 8, prefix.count >= 8 else {
            throw FileError(.safetensors, path: source, problem: "the file is \(fileSize) bytes long, too short for the 8-byte header length a safetensors file starts with")
        }
        let length = prefix[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(maxLength) else {
            throw FileError(.safetensors, path: source, problem: "the header length is \(length) bytes, more than the \(maxLength)-byte limit: the file is not safetensors or is corrupt")
        }
        guard Int(length) <= fileSize - 8 else {
            throw FileError(.safetensors, path: source, problem: "the header length is \(length) bytes but only \(fileSize - 8) bytes follow it: the file is truncated or not safetensors")
        }
        return Int(length)
    }

    /// Parses the JSON header of a file whose data buffer (after the header) is `dataByteCount` bytes.
    init(json: [UInt8], dataByteCount: Int, source: String) throws(FileError) {
        func fail(_ problem: String) -> FileError { FileError(.safetensors, path: source, problem: problem) }
        let root: JSONValue
        do {
            root = try JSONParser.parse(json)
        } catch {
            throw fail("cannot parse the header's JSON: \(error.message)")
        }
        guard case .object(let members) = root else { throw fail("the header is \(root.kind), not a JSON object") }
        var entries = [String: Entry]()
        var metadata = [String: String]()
        for (key, value) in members {
            if key == "__metadata__" {
                metadata = try Self.metadata(value, fail)
            } else {
                entries[key] = try Self.entry(named: key, value, dataByteCount: dataByteCount, fail)
            }
        }
        names = try Self.checkTiling(entries, dataByteCount: dataByteCount, fail)
        self.entries = entries
        self.metadata = metadata
    }

    /// `__metadata__`: null or an object whose values are all strings.
    private static func metadata(_ value: JSONValue, _ fail: (String) -> FileError) throws(FileError) -> [String: String] {
        if case .null = value { return [:] }
        guard case .object(let members) = value else { throw fail("__metadata__ is \(value.kind), not an object of strings") }
        var metadata = [String: String]()
        for (key, value) in members {
            guard case .string(let text) = value else {
                throw fail("__metadata__ entry \(JSONWriter.quoted(key)) is \(value.kind), not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func entry(named name: String, _ value: JSONValue, dataByteCount: Int,
                              _ fail: (String) -> FileError) throws(FileError) -> Entry {
        let tensor = "tensor \(JSONWriter.quoted(name))"
        guard case .object(let fields) = value else {
            throw fail("\(tensor) is described by \(value.kind), not an object with dtype, shape and data_offsets")
        }
        // Other keys are ignored, as the Rust reader ignores them.
        func field(_ key: String) throws(FileError) -> JSONValue {
            guard let value = fields.first(where: { $0.key == key })?.value else { throw fail("\(tensor) has no \"\(key)\"") }
            return value
        }
        func integers(_ key: String) throws(FileError) -> [Int] {
            guard case .array(let elements) = try field(key) else { throw fail("\(tensor): \(key) is not an array") }
            var result = [Int]()
            for element in elements {
                guard case .number(let text) = element else { throw fail("\(tensor): \(key) holds \(element.kind), not an integer") }
                if text.hasPrefix("-") { throw fail("\(tensor): \(key) holds the negative number \(text)") }
                guard text.allSatisfy(\.isASCIIDigit) else { throw fail("\(tensor): \(key) holds \(text), not an integer") }
                guard let integer = Int(text) else { throw fail("\(tensor): \(key) holds \(text), which is too large") }
                result.append(integer)
            }
            return result
        }

        let code = try field("dtype")
        guard case .string(let codeText) = code else { throw fail("\(tensor): dtype is \(code.kind), not a string") }
        guard let dtype = SafeTensorsDType(rawValue: codeText) else {
            throw fail("\(tensor) has the unknown dtype \(JSONWriter.quoted(codeText)) (known: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")
        guard offsets.count == 2 else { throw fail("\(tensor): data_offsets has \(offsets.count) entries, not two (begin and end)") }

        var bitCount = dtype.bitSize
        for size in shape {
            let (product, overflow) = bitCount.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("\(tensor): the size of shape \(shape) overflows") }
            bitCount = product
        }
        guard bitCount % 8 == 0 else { throw fail("\(tensor): \(dtype.rawValue) elements of shape \(shape) do not fill whole bytes") }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else { throw fail("\(tensor): data_offsets [\(begin), \(end)] end before they begin") }
        guard end - begin == bitCount / 8 else {
            throw fail("\(tensor): \(dtype.rawValue) shape \(shape) needs \(bitCount / 8) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        guard end <= dataByteCount else {
            throw fail("\(tensor): data_offsets [\(begin), \(end)] run past the end of the \(dataByteCount)-byte data buffer: the file is truncated or the header is wrong")
        }
        return Entry(dtype: dtype, shape: shape, range: begin..<end)
    }

    /// Checks that the tensors' byte ranges, sorted, tile the data buffer; returns the names in that order.
    private static func checkTiling(_ entries: [String: Entry], dataByteCount: Int,
                                    _ fail: (String) -> FileError) throws(FileError) -> [String] {
        let names = entries.keys.sorted { a, b in
            let (ra, rb) = (entries[a]!.range, entries[b]!.range)
            return (ra.lowerBound, ra.upperBound) != (rb.lowerBound, rb.upperBound)
                ? (ra.lowerBound, ra.upperBound) < (rb.lowerBound, rb.upperBound)
                : a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var covered = 0
        var previous: String?
        for name in names {
            let range = entries[name]!.range
            if range.lowerBound > covered {
                throw fail("bytes \(covered)..<\(range.lowerBound) of the data buffer, before tensor \(JSONWriter.quoted(name)), belong to no tensor")
            }
            if range.lowerBound < covered, let previous {
                throw fail("tensor \(JSONWriter.quoted(name)) (data_offsets [\(range.lowerBound), \(range.upperBound)]) overlaps tensor \(JSONWriter.quoted(previous)), which ends at \(covered)")
            }
            covered = range.upperBound
            previous = name
        }
        guard covered == dataByteCount else {
            throw fail("the last \(dataByteCount - covered) of the data buffer's \(dataByteCount) bytes belong to no tensor")
        }
        return names
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
