import CZlib
import Foundation

/// gzip and raw deflate through zlib: gzip for compressed dataset files (MNIST's `.gz`,
/// TFRecord files), raw deflate for the members of zip archives (`.npz`).
public enum Compression {
    /// True when `bytes` start with gzip's magic number (1f 8b); files are recognized by their
    /// content, not their name.
    public static func isGzip(_ bytes: Data) -> Bool {
        bytes.count >= 2 && bytes[bytes.startIndex] == 0x1F && bytes[bytes.startIndex + 1] == 0x8B
    }

    /// The decompressed contents of a gzip file. Several members concatenated (as `cat a.gz
    /// b.gz` or parallel gzip tools make) decompress to their contents concatenated, as
    /// `gunzip` does. Each member's CRC-32 and length are checked.
    public static func gunzip(_ data: Data, source: String) throws(FileError) -> [UInt8] {
        guard isGzip(data) else { throw FileError(.gzip, path: source, problem: "not gzip data (the file does not start with 1f 8b)") }
        // The last 4 bytes hold the (last member's) length modulo 2^32: a good first guess,
        // capped at deflate's largest expansion (about 1032:1) so a corrupt file cannot make
        // us reserve gigabytes.
        let hint = data.count >= 4 ? data.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) } : 0
        var output = [UInt8]()
        output.reserveCapacity(min(max(hint, data.count), data.count * 1032))
        var consumed = 0
        while consumed < data.count {
            let rest = data.dropFirst(consumed)
            if consumed > 0 && !isGzip(rest) {
                throw FileError(.gzip, path: source, problem: "\(rest.count) bytes after the end of the gzip data are not another gzip member")
            }
            // 16 + 15: a gzip wrapper around a deflate stream with the largest window.
            consumed += try inflate(rest, windowBits: 16 + 15, into: &output, format: .gzip, source: source)
        }
        return output
    }

    /// The decompressed contents of a raw deflate stream (no zlib or gzip wrapper), as zip
    /// archives store their members. The stream must end exactly at the end of `data` and
    /// decompress to exactly `expectedCount` bytes. Errors are of `format`, the file that holds
    /// the stream (a zip archive, a PNG image).
    public static func inflate(_ data: Data, expectedCount: Int, format: FileError.Format, source: String) throws(FileError) -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(expectedCount)
        let consumed = try inflate(data, windowBits: -15, into: &output, format: format, source: source)
        if consumed != data.count {
            throw FileError(format, path: source, problem: "the deflate stream ends after \(consumed) of its \(data.count) bytes")
        }
        if output.count != expectedCount {
            throw FileError(format, path: source, problem: "the deflate stream holds \(output.count) bytes, \(expectedCount) were declared")
        }
        return output
    }

    /// A raw deflate stream of `bytes` at zlib's `level` (0-9; 6 is zlib's and Python's default).
    public static func deflate(_ bytes: UnsafeRawBufferPointer, level: Int = 6) -> [UInt8] {
        // -15: raw deflate, no wrapper (zip stores its own CRC and sizes).
        deflate(bytes, level: level, windowBits: -15)
    }

    /// A gzip file (one member) holding `bytes`, as `gzip` or Python's `gzip.compress` writes it.
    public static func gzip(_ bytes: UnsafeRawBufferPointer, level: Int = 6) -> [UInt8] {
        // 16 + 15: zlib's gzip wrapper (header, CRC-32 and length) around the largest window.
        deflate(bytes, level: level, windowBits: 16 + 15)
    }

    private static func deflate(_ bytes: UnsafeRawBufferPointer, level: Int, windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        let status = deflateInit2_(&stream, Int32(level), Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit2 failed (\(status)): zlib is out of memory or the level \(level) is outside 0-9")
        defer { deflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(bytes.count / 2 + 64)
        var input = bytes.count > 0 ? bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) : nil
        var remaining = bytes.count
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var finished = false
        while !finished {
            // zlib counts in 32 bits: feed huge inputs in pieces.
            if stream.avail_in == 0 && remaining > 0 {
                let piece = min(remaining, 1 << 30)
                stream.next_in = UnsafeMutablePointer(mutating: input)
                stream.avail_in = UInt32(piece)
                input = input! + piece
                remaining -= piece
            }
            let flush = remaining == 0 ? Z_FINISH : Z_NO_FLUSH
            let produced = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                let status = CZlib.deflate(&stream, flush)
                precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, "deflate failed (\(status))")
                finished = status == Z_STREAM_END
                return buffer.count - Int(stream.avail_out)
            }
            output.append(contentsOf: chunk[..<produced])
        }
        return output
    }

    /// The CRC-32 zip and gzip store (zlib's, polynomial 0xEDB88320).
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var start = 0
        while start < bytes.count {
            let piece = min(bytes.count - start, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, UInt32(piece))
            start += piece
        }
        return UInt32(crc)
    }

    /// Inflates one stream from the start of `data`, appending to `output`; returns the number
    /// of input bytes the stream took.
    private static func inflate(_ data: Data, windowBits: Int32, into output: inout [UInt8], format: FileError.Format,
                                source: String) throws(FileError) -> Int {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FileError(format, path: source, problem: "zlib could not start decompressing (out of memory)")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var problem: String?
        let consumed = data.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> Int in
            var fed = 0
            while true {
                if stream.avail_in == 0 && fed < input.count {
                    let piece = min(input.count - fed, 1 << 30)
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + fed)
                    stream.avail_in = UInt32(piece)
                    fed += piece
                }
                var status: Int32 = Z_OK
                let produced = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return buffer.count - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[..<produced])
                switch status {
                case Z_STREAM_END:
                    return fed - Int(stream.avail_in)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0 && fed == input.count:
                    problem = "truncated: the compressed data ends in the middle of a stream (\(input.count) bytes read)"
                    return fed
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    problem = "corrupt compressed data: \(reason)"
                    return fed
                }
            }
        }
        if let problem { throw FileError(format, path: source, problem: problem) }
        return consumed
    }
}
