import EmberIO
import Foundation

/// zlib streams (RFC 1950), the wrapper PNG puts around its image data: a 2-byte header, a
/// raw deflate stream (EmberIO's `Compression`), and the Adler-32 of the uncompressed bytes.
enum ZlibStream {
    /// The compressed stream of `bytes` at zlib's `level` (0-9).
    static func compress(_ bytes: [UInt8], level: Int = 6) -> [UInt8] {
        // The header: deflate with a 32 KB window (0x78), the level as a hint, and check bits
        // that make the two bytes, read big-endian, a multiple of 31.
        let levelHint = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3
        var flags = UInt8(levelHint << 6)
        flags += UInt8(31 - (0x78 * 256 + Int(flags)) % 31) % 31
        let deflated = bytes.withUnsafeBytes { Compression.deflate($0, level: level) }
        return [0x78, flags] + deflated + bigEndianBytes(adler32(bytes))
    }

    /// The `expectedCount` bytes held by the zlib stream `stream`; `context` says in errors
    /// what the stream is ("the IDAT data", ...).
    static func decompress(_ stream: [UInt8], expectedCount: Int, source: String, context: String) throws(FileError) -> [UInt8] {
        func fail(_ problem: String) -> FileError { FileError(.png, path: source, problem: "\(context): \(problem)") }
        guard stream.count >= 6 else { throw fail("truncated: \(stream.count) bytes, too short for a zlib stream (a 2-byte header, compressed data and a 4-byte checksum)") }
        let method = stream[0], flags = stream[1]
        guard method & 0x0F == 8, method >> 4 <= 7, (Int(method) * 256 + Int(flags)) % 31 == 0 else {
            throw fail(String(format: "not a zlib stream: the header %02x %02x is not deflate with a window of at most 32 KB and valid check bits", method, flags))
        }
        guard flags & 0x20 == 0 else { throw fail("the zlib stream asks for a preset dictionary, which PNG does not allow") }
        let inflated: [UInt8]
        do {
            inflated = try Compression.inflate(Data(stream[2..<(stream.count - 4)]), expectedCount: expectedCount, format: .png, source: source)
        } catch {
            throw fail(error.problem)
        }
        let stored = stream.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let computed = adler32(inflated)
        guard stored == computed else {
            throw fail(String(format: "the zlib checksum (Adler-32) is 0x%08x, the decompressed bytes give 0x%08x", stored, computed))
        }
        return inflated
    }

    /// RFC 1950's checksum: two sums modulo 65521, the largest prime below 2^16.
    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var start = 0
        while start < bytes.count {
            // 5552 bytes is the most that can be summed before b could overflow 32 bits.
            let end = min(start + 5552, bytes.count)
            for index in start..<end {
                a += UInt32(bytes[index])
                b += a
            }
            a %= 65521
            b %= 65521
            start = end
        }
        return b << 16 | a
    }

    static func bigEndianBytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
