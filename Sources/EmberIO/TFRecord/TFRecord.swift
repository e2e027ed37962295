import Foundation

/// TFRecord framing, the container of TensorFlow's record files and of TensorBoard's event
/// files: each record is `uint64 length, uint32 masked CRC-32C of the length bytes, data,
/// uint32 masked CRC-32C of the data`, all little-endian.
public enum TFRecord {
    /// The 12 bytes before a record's data and the 4 after it.
    static let headerSize = 12, footerSize = 4

    /// One record, framed.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var record = [UInt8]()
        record.reserveCapacity(data.count + headerSize + footerSize)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        record += length
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(length)).littleEndian) { record += $0 }
        record += data
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(data)).littleEndian) { record += $0 }
        return record
    }

    /// Where each record's data lies in `bytes`, a whole file's (uncompressed) contents, with
    /// both CRCs of every record checked. A bad CRC or a file that ends inside a record is a
    /// `FileError` naming the record and its byte offset; `place` follows the offset in errors,
    /// saying what it counts (" of the decompressed data" for a gzip file).
    public static func records(in bytes: UnsafeRawBufferPointer, source: String,
                               offsetsIn place: String = "") throws(FileError) -> [Range<Int>] {
        var records = [Range<Int>]()
        var offset = 0
        while offset < bytes.count {
            func fail(_ problem: String) -> FileError {
                FileError(.tfRecord, path: source, member: "record \(records.count) at byte \(offset)\(place)", problem: problem)
            }
            let left = bytes.count - offset
            guard left >= headerSize else {
                throw fail("truncated: \(left) bytes are left, a record's header is 12 (length and its CRC)")
            }
            let length = read(UInt64.self, bytes, at: offset)
            let lengthCRC = CRC32C.masked(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 8])))
            let storedLengthCRC = read(UInt32.self, bytes, at: offset + 8)
            guard lengthCRC == storedLengthCRC else {
                throw fail("the length's masked CRC-32C is \(hex(lengthCRC)), the record stores \(hex(storedLengthCRC)): a corrupt record (or not a TFRecord file)")
            }
            let room = left - headerSize - footerSize
            guard room >= 0 && length <= UInt64(room) else {
                throw fail("truncated: the record declares \(length) bytes of data and a 4-byte CRC, the file ends \(left - headerSize) bytes after the header")
            }
            let data = offset + headerSize..<offset + headerSize + Int(length)
            let dataCRC = CRC32C.masked(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[data])))
            let storedDataCRC = read(UInt32.self, bytes, at: data.upperBound)
            guard dataCRC == storedDataCRC else {
                throw fail("the data's masked CRC-32C is \(hex(dataCRC)), the record stores \(hex(storedDataCRC)): a corrupt record")
            }
            records.append(data)
            offset = data.upperBound + footerSize
        }
        return records
    }

    /// Whether `bytes` start with a record header whose length CRC holds: how an uncompressed
    /// file is told from a gzip one (whose first bytes could also be read as a length).
    static func startsWithRecordHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerSize else { return false }
        return CRC32C.masked(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<8]))) == read(UInt32.self, bytes, at: 8)
    }

    private static func read<T: FixedWidthInteger>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    private static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: true) }
}
