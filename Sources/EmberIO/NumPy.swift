import Ember
import Foundation

#if _endian(big)
#error("tensors are written to .npy as little-endian by copying their bytes: a big-endian host would need byte swapping")
#endif

/// NumPy's `.npy` file: the magic `\x93NUMPY`, a format version (1.0, 2.0 or 3.0), the header
/// length (2 bytes little-endian in 1.0, 4 in 2.0 and 3.0), a Python dict literal header
/// giving `descr`, `fortran_order` and `shape`, then the elements.
///
/// Loaded dtypes: f2, f4, f8, i4, i8 and b1 as float16, float32, float64, int32, int64 and
/// bool; i1, i2, u1 and u2 widen to int32 and u4 to int64, exactly. Either byte order and
/// either memory order (C or Fortran) load into a row-major tensor. Object arrays (pickles),
/// strings, complex numbers, dates, structured arrays and uint64 are refused.
///
/// Writing produces format 1.0 byte-identical to `np.save` of the same array. `.npz`
/// archives are in `NumPy+Archive`.
public enum NumPy {
    /// The array in a `.npy` file.
    public static func load(contentsOf url: URL) throws -> Tensor {
        try decode(mapped(url, format: .npy), source: url.path)
    }

    /// The array in the bytes of a whole `.npy` file; `source` names it in errors.
    public static func decode(_ data: Data, source: String = "<memory>") throws -> Tensor {
        do {
            return try data.withUnsafeBytes { try decodeArray($0) }
        } catch let error as FormatProblem {
            throw FileError(.npy, path: source, problem: error.problem)
        }
    }

    /// The bytes of a `.npy` file holding `tensor` (any layout: views are written by value).
    public static func encode(_ tensor: Tensor) throws(FileError) -> Data {
        do {
            return Data(try encodeArray(tensor))
        } catch {
            throw FileError(.npy, path: "<memory>", problem: error.problem)
        }
    }

    /// Writes `tensor` as a `.npy` file. Atomic: a temporary file in the same directory is
    /// renamed over `url`, so a failure never leaves a partial file.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let bytes: [UInt8]
        do {
            bytes = try encodeArray(tensor)
        } catch {
            throw FileError(.npy, path: url.path, problem: error.problem)
        }
        try AtomicFile.replace(url, format: .npy) { append in try bytes.withUnsafeBytes(append) }
    }

    /// A file's bytes, memory-mapped.
    static func mapped(_ url: URL, format: FileError.Format) throws(FileError) -> Data {
        try FileError.contents(of: url, format: format, options: .alwaysMapped)
    }

    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// A `.npy` file's elements as raw records, whatever its dtype (NumPy saves the types it
    /// lacks, ml_dtypes' float8, int4 and bfloat16, as `'|V1'`, `'<f1'`, `'<V2'`): its shape, the
    /// record size in bytes and the records in row-major order, for a reader that knows the
    /// element type from elsewhere (an ONNX graph's declared input type).
    public static func loadRecords(contentsOf url: URL) throws -> (shape: [Int], recordSize: Int, bytes: Data) {
        let data = try mapped(url, format: .npy)
        do {
            return try data.withUnsafeBytes { try decodeRecords($0) }
        } catch let error as FormatProblem {
            throw FileError(.npy, path: url.path, problem: error.problem)
        }
    }

    private static func decodeRecords(_ bytes: UnsafeRawBufferPointer) throws(FormatProblem) -> (shape: [Int], recordSize: Int, bytes: Data) {
        let (header, start) = try readHeader(bytes)
        // Any one-letter kind with a size: ml_dtypes' types are saved as '|V1', '<V2' or '<f1'.
        let descr = header.descr.drop { "<>|=".contains($0) }
        guard let kind = descr.first, kind.isLetter, let size = Int(descr.dropFirst()), size > 0 else {
            throw FormatProblem("dtype '\(header.descr)' is not a kind and a size in bytes")
        }
        guard !header.fortranOrder || header.shape.count < 2 else { throw FormatProblem("raw records in Fortran order are not supported") }
        let count = try elementCount(header.shape)
        let (needed, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, needed == bytes.count - start else {
            throw FormatProblem("shape \(header.shape) of '\(header.descr)' needs \(needed) bytes, \(bytes.count - start) follow the header")
        }
        return (header.shape, size, Data(bytes[start...]))
    }

    private static func elementCount(_ shape: [Int]) throws(FormatProblem) -> Int {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw FormatProblem("the shape \(shape) has more elements than can be addressed") }
            count = product
        }
        return count
    }

    /// The parsed header and the offset of the data after it.
    private static func readHeader(_ bytes: UnsafeRawBufferPointer) throws(FormatProblem) -> (NumPyHeader, Int) {
        guard bytes.count >= 6, Array(bytes[0..<6]) == magic else {
            throw FormatProblem("bad magic: a .npy file starts with \\x93NUMPY, this one with \(hex(bytes.prefix(6)))")
        }
        guard bytes.count >= 10 else { throw FormatProblem("truncated: the file is \(bytes.count) bytes, too short for the preamble") }
        let (major, minor) = (bytes[6], bytes[7])
        let preamble: Int
        let headerLength: Int
        switch (major, minor) {
        case (1, 0):
            preamble = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case (2, 0), (3, 0):
            guard bytes.count >= 12 else { throw FormatProblem("truncated: the file is \(bytes.count) bytes, too short for the preamble") }
            preamble = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw FormatProblem("unsupported format version \(major).\(minor) (1.0, 2.0 and 3.0 are known)")
        }
        guard preamble + headerLength <= bytes.count else {
            throw FormatProblem("truncated: the header claims \(headerLength) bytes, only \(bytes.count - preamble) follow the preamble")
        }
        // 1.0 and 2.0 headers are Latin-1, 3.0 UTF-8; the dict's own characters are ASCII either way.
        let text = String(decoding: bytes[preamble..<(preamble + headerLength)], as: UTF8.self)
        return (try NumPyHeader(parsing: text), preamble + headerLength)
    }

    static func decodeArray(_ bytes: UnsafeRawBufferPointer) throws(FormatProblem) -> Tensor {
        let (header, start) = try readHeader(bytes)
        let dtype = try NumPyDType(descr: header.descr)
        let count = try elementCount(header.shape)
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        let available = bytes.count - start
        guard !overflow && needed <= available else {
            throw FormatProblem("truncated: shape \(header.shape) of '\(header.descr)' needs \(needed) bytes of data, only \(available) follow the header")
        }
        guard needed == available else {
            throw FormatProblem("the header is inconsistent with the data length: shape \(header.shape) of '\(header.descr)' needs \(needed) bytes, \(available) follow the header")
        }

        let loaded = dtype.load(UnsafeRawBufferPointer(rebasing: bytes[start...]), count: count)
        // Fortran order is row-major order of the reversed shape; reversing the axes back is a
        // transpose, made dense.
        let storedShape = header.fortranOrder ? header.shape.reversed() : header.shape
        let tensor = Tensor(uninitializedShape: storedShape, dtype: dtype.loadedDType)
        if count > 0 { loaded.withUnsafeBytes { tensor.backend.upload($0, to: tensor.storage, at: 0) } }
        guard header.fortranOrder && header.shape.count > 1 else { return tensor }
        return noGrad { tensor.permuted(Array((0..<header.shape.count).reversed())).contiguous() }
    }

    static func encodeArray(_ tensor: Tensor) throws(FormatProblem) -> [UInt8] {
        if tensor.isAbstract { throw FormatProblem("the tensor is a traced placeholder without values") }
        let dtype = try NumPyDType(tensor.dtype)
        let header = NumPyHeader(descr: dtype.descr, fortranOrder: false, shape: tensor.shape)
        let text = Array(header.text.utf8)
        // The header ends with a newline, padded with spaces so that the data starts at a
        // multiple of 64 bytes (NumPy pads a full 64 when already aligned).
        let padding = 64 - (10 + text.count + 1) % 64
        let headerLength = text.count + padding + 1
        var bytes = magic + [1, 0, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        bytes += text + [UInt8](repeating: UInt8(ascii: " "), count: padding) + [UInt8(ascii: "\n")]
        guard tensor.count > 0 else { return bytes }
        let dense = noGrad { tensor.contiguous() }
        let start = bytes.count
        bytes += [UInt8](repeating: 0, count: dense.count * dense.dtype.byteSize)
        bytes[start...].withUnsafeMutableBytes { dense.backend.download(dense, into: $0) }
        return bytes
    }

    private static func hex(_ bytes: some Collection<UInt8>) -> String {
        bytes.isEmpty ? "nothing (the file is empty)" : bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}
