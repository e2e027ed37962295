/// TFRecord framing, the container of TensorBoard event files: each record is
/// `uint64 length, uint32 masked CRC-32C of the length bytes, data, uint32 masked CRC-32C of
/// the data`, all little-endian.
enum TFRecord {
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var record = [UInt8]()
        record.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        record += length
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(length)).littleEndian) { record += $0 }
        record += data
        withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(data)).littleEndian) { record += $0 }
        return record
    }
}
