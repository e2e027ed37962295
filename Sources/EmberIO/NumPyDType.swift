import Ember

/// A plain element type as a `.npy` header's `descr` spells it: a byte order (`<` little, `>`
/// big, `|` not applicable, `=` native), a kind and a size in bytes, as in `'<f4'` or `'|b1'`.
struct NumPyDType: Equatable {
    enum Kind: Character {
        case bool = "b", int = "i", uint = "u", float = "f"
    }

    let kind: Kind
    let size: Int
    let isBigEndian: Bool

    /// Parses a descr, refusing the types Ember cannot hold with the reason.
    init(descr: String) throws(FormatProblem) {
        var rest = Substring(descr)
        var isBigEndian = false
        if let order = rest.first, "<>|=".contains(order) {
            isBigEndian = order == ">"
            rest = rest.dropFirst()
        }
        guard let code = rest.first else { throw FormatProblem("the dtype descr '\(descr)' is empty") }
        let size = Int(rest.dropFirst()) ?? (rest.count == 1 ? 1 : 0)
        switch code {
        case "O":
            throw FormatProblem("the array holds Python objects (dtype '\(descr)'), stored as a pickle; pickles can run arbitrary code and are never loaded, save plain numeric arrays instead")
        case "U", "S", "a":
            throw FormatProblem("unsupported dtype '\(descr)': strings have no Ember dtype")
        case "c":
            throw FormatProblem("unsupported dtype '\(descr)': complex numbers have no Ember dtype")
        case "M", "m":
            throw FormatProblem("unsupported dtype '\(descr)': dates and time spans have no Ember dtype")
        case "V":
            throw FormatProblem("unsupported dtype '\(descr)': raw bytes (void) have no Ember dtype")
        case "?":
            self.init(kind: .bool, size: 1, isBigEndian: false)
            return
        default:
            break
        }
        guard let kind = Kind(rawValue: code) else { throw FormatProblem("unsupported dtype '\(descr)'") }
        switch (kind, size) {
        case (.bool, 1), (.int, 1), (.int, 2), (.int, 4), (.int, 8), (.uint, 1), (.uint, 2), (.uint, 4), (.float, 2), (.float, 4), (.float, 8):
            self.init(kind: kind, size: size, isBigEndian: isBigEndian)
        case (.uint, 8):
            throw FormatProblem("unsupported dtype '\(descr)': uint64 has no Ember dtype that holds all its values")
        default:
            throw FormatProblem("unsupported dtype '\(descr)'")
        }
    }

    init(kind: Kind, size: Int, isBigEndian: Bool) {
        self.kind = kind
        self.size = size
        self.isBigEndian = isBigEndian
    }

    /// The type a tensor of `dtype` is written as (little-endian); bfloat16, which NumPy lacks, throws.
    init(_ dtype: DType) throws(FormatProblem) {
        switch dtype {
        case .bool: self.init(kind: .bool, size: 1, isBigEndian: false)
        case .int32: self.init(kind: .int, size: 4, isBigEndian: false)
        case .int64: self.init(kind: .int, size: 8, isBigEndian: false)
        case .float16: self.init(kind: .float, size: 2, isBigEndian: false)
        case .float32: self.init(kind: .float, size: 4, isBigEndian: false)
        case .float64: self.init(kind: .float, size: 8, isBigEndian: false)
        case .bfloat16: throw FormatProblem("NumPy has no bfloat16 dtype: cast the tensor to float32 first")
        }
    }

    /// The descr NumPy writes for this type (`dtype.str`).
    var descr: String { (size == 1 ? "|" : isBigEndian ? ">" : "<") + String(kind.rawValue) + String(size) }

    /// The Ember dtype an array of this type loads as. int8, int16, uint8 and uint16 widen to
    /// int32 and uint32 to int64, so that every value is kept exactly.
    var loadedDType: DType {
        switch (kind, size) {
        case (.bool, _): return .bool
        case (.float, 2): return .float16
        case (.float, 4): return .float32
        case (.float, _): return .float64
        case (.uint, 4), (.int, 8): return .int64
        default: return .int32
        }
    }

    /// Converts `count` elements stored as this type into the little-endian bytes of `loadedDType`.
    func load(_ raw: UnsafeRawBufferPointer, count: Int) -> [UInt8] {
        var bytes = [UInt8](raw[0..<(count * size)])
        if isBigEndian && size > 1 {
            for start in stride(from: 0, to: bytes.count, by: size) { bytes[start..<(start + size)].reverse() }
        }
        switch (kind, size) {
        case (.bool, _): return bytes.map { $0 == 0 ? 0 : 1 }
        case (.int, 1): return Self.widened(bytes, from: Int8.self, to: Int32.self)
        case (.int, 2): return Self.widened(bytes, from: Int16.self, to: Int32.self)
        case (.uint, 1): return Self.widened(bytes, from: UInt8.self, to: Int32.self)
        case (.uint, 2): return Self.widened(bytes, from: UInt16.self, to: Int32.self)
        case (.uint, 4): return Self.widened(bytes, from: UInt32.self, to: Int64.self)
        // The rest have the loaded dtype's exact layout.
        default: return bytes
        }
    }

    /// Little-endian integers of type `Source`, each widened to `Target`, as bytes.
    private static func widened<Source: FixedWidthInteger, Target: FixedWidthInteger>(
        _ bytes: [UInt8], from _: Source.Type, to _: Target.Type
    ) -> [UInt8] {
        let values = bytes.withUnsafeBytes { raw in
            (0..<(raw.count / MemoryLayout<Source>.size)).map {
                Target(Source(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Source>.size, as: Source.self)))
            }
        }
        return values.withUnsafeBytes { [UInt8]($0) }
    }
}

