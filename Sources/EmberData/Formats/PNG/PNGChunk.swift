import EmberIO

/// One chunk of a PNG file: a 4-letter type and its data, CRC already checked.
struct PNGChunk {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The type as its four ASCII letters ("IHDR", "tEXt").
    let type: String
    let data: ArraySlice<UInt8>
    /// Where the chunk starts in the file (its length field).
    let offset: Int

    /// A lower-case first letter marks a chunk a decoder may skip without understanding it;
    /// an upper-case one, a chunk needed to show the image correctly.
    var isCritical: Bool { type.utf8.first.map { $0 & 0x20 == 0 } ?? true }

    /// The chunk's bytes in a file: length, type, data and the CRC of type and data.
    static func encoded(type: String, data: ArraySlice<UInt8>) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return ZlibStream.bigEndianBytes(UInt32(data.count)) + typeAndData
            + ZlibStream.bigEndianBytes(typeAndData.withUnsafeBytes { Compression.crc32($0) })
    }
}

/// Reads the chunks of a PNG file in order, checking each one's length and CRC.
struct PNGChunkReader {
    let bytes: [UInt8]
    let source: String
    private var position = PNGChunk.signature.count

    /// `bytes` must start with the PNG signature.
    init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// The next chunk, or nil at the end of the file.
    mutating func next() throws(FileError) -> PNGChunk? {
        let offset = position
        guard offset < bytes.count else { return nil }
        func fail(_ problem: String) -> FileError { FileError(.png, path: source, problem: problem) }
        guard bytes.count - offset >= 8 else {
            throw fail("truncated: the file ends inside the header of the chunk at byte \(offset) (\(bytes.count - offset) of its 8 bytes)")
        }
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        let typeBytes = bytes[(offset + 4)..<(offset + 8)]
        guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0 & ~0x20) }) else {
            let hex = typeBytes.map { String($0, radix: 16) }.joined(separator: " ")
            throw fail("the chunk at byte \(offset) has the type \(hex), which is not four ASCII letters (a corrupt file, or data after a chunk whose length is wrong)")
        }
        let type = String(decoding: typeBytes, as: UTF8.self)
        guard length <= PNGHeader.maximumDimension else {
            throw fail("chunk \(type) at byte \(offset) declares \(length) bytes of data; PNG chunks hold at most 2^31-1")
        }
        let dataStart = offset + 8
        guard bytes.count - dataStart >= length + 4 else {
            throw fail("truncated: chunk \(type) at byte \(offset) declares \(length) bytes of data and a 4-byte CRC, the file has \(bytes.count - dataStart) bytes left")
        }
        let storedCRC = bytes[(dataStart + length)..<(dataStart + length + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let computedCRC = bytes[(offset + 4)..<(dataStart + length)].withUnsafeBytes { Compression.crc32($0) }
        guard storedCRC == computedCRC else {
            throw fail("bad CRC in chunk \(type) at byte \(offset): stored \(hex(storedCRC)), the chunk's bytes give \(hex(computedCRC)) (the file is corrupt)")
        }
        position = dataStart + length + 4
        return PNGChunk(type: type, data: bytes[dataStart..<(dataStart + length)], offset: offset)
    }

    private func hex(_ value: UInt32) -> String { String(format: "0x%08x", value) }
}
