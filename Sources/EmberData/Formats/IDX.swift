import Ember
import EmberIO
import Foundation

/// An array in Yann LeCun's IDX format (MNIST, Fashion-MNIST, EMNIST): the magic bytes
/// 00 00, an element type and a rank, the dimensions as big-endian 32-bit integers, then the
/// elements, big-endian, row-major. Files may be gzip-compressed (detected by content).
public struct IDXArray: Sendable {
    public enum ElementType: UInt8, Sendable {
        case ubyte = 0x08, byte = 0x09, short = 0x0B, int = 0x0C, float = 0x0D, double = 0x0E

        public var byteSize: Int {
            switch self {
            case .ubyte, .byte: return 1
            case .short: return 2
            case .int, .float: return 4
            case .double: return 8
            }
        }
    }

    public let elementType: ElementType
    public let shape: [Int]
    /// The elements as stored: big-endian, row-major.
    public let elementBytes: ArraySlice<UInt8>

    public init(contentsOf url: URL) throws {
        try self.init(bytes: DataFile.contents(of: url, format: .idx), source: url.path)
    }

    /// Parses a whole (decompressed) file; `source` names it in errors.
    public init(bytes: [UInt8], source: String) throws(FileError) {
        func fail(_ problem: String) -> FileError { FileError(.idx, path: source, problem: problem) }
        guard bytes.count >= 4 else { throw fail("truncated: \(bytes.count) bytes, too short for the 4-byte IDX magic number") }
        let magic = bytes[0..<4].map { String(format: "%02x", $0) }.joined(separator: " ")
        guard bytes[0] == 0, bytes[1] == 0, let elementType = ElementType(rawValue: bytes[2]) else {
            throw fail("bad magic \(magic): an IDX file starts with 00 00, a type (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double) and a rank")
        }
        let rank = Int(bytes[3])
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw fail("truncated: the file ends inside its \(rank) dimensions") }
        let shape = (0..<rank).map { axis in bytes[(4 + 4 * axis)..<(8 + 4 * axis)].reduce(0) { $0 << 8 | Int($1) } }
        let available = bytes.count - headerSize
        guard let needed = MemoryLimit.bytes(shape + [elementType.byteSize]) else {
            throw fail("dimensions \(shape) of \(elementType) need more bytes than can be counted; the file has \(available) after its header")
        }
        guard needed == available else {
            let what = needed > available ? "truncated" : "too long"
            throw fail("\(what): dimensions \(shape) of \(elementType) need \(needed) bytes of data, the file has \(available) after its header")
        }
        self.elementType = elementType
        self.shape = shape
        elementBytes = bytes[headerSize...]
    }

    /// The elements as a tensor: ubyte, byte, short and int as int32, float as float32,
    /// double as float64.
    public func tensor() -> Tensor {
        let size = elementType.byteSize
        let values = stride(from: elementBytes.startIndex, to: elementBytes.endIndex, by: size).map { start in
            elementBytes[start..<(start + size)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        switch elementType {
        case .ubyte: return Tensor(values.map { Int32($0) }, shape: shape)
        case .byte: return Tensor(values.map { Int32(Int8(truncatingIfNeeded: $0)) }, shape: shape)
        case .short: return Tensor(values.map { Int32(Int16(truncatingIfNeeded: $0)) }, shape: shape)
        case .int: return Tensor(values.map { Int32(truncatingIfNeeded: $0) }, shape: shape)
        case .float: return Tensor(values.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }, shape: shape)
        case .double: return Tensor(values.map { Double(bitPattern: $0) }, shape: shape)
        }
    }
}
