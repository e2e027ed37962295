import Foundation

/// Reading a zip archive (the container of `.npz` files) from its central directory: stored
/// and deflated members, zip64 sizes and offsets (Python's `zipfile` writes zip64 local
/// headers for every `.npz` member, and zip64 central records past 4 GiB). Multi-disk and
/// encrypted archives are refused.
struct ZipArchive {
    struct Member {
        let name: String
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    /// The members in central-directory order.
    let members: [Member]
    private let bytes: Data

    init(_ bytes: Data) throws(FormatProblem) {
        self.bytes = bytes
        let reader = ByteReader(bytes)
        let end = try Self.findEndOfCentralDirectory(reader)
        var count = Int(try reader.u16(end + 10))
        var directorySize = Int(try reader.u32(end + 12))
        var directoryOffset = Int(try reader.u32(end + 16))
        let (disk, directoryDisk) = (try reader.u16(end + 4), try reader.u16(end + 6))
        if disk != 0 || directoryDisk != 0 { throw FormatProblem("multi-disk zip archives are not supported") }
        // Saturated fields mean the real values are in the zip64 end record, found through the
        // locator just before the end record.
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            guard end >= 20, try reader.u32(end - 20) == 0x0706_4B50 else {
                throw FormatProblem("corrupt zip: the end record points to a zip64 end record, but its locator is missing")
            }
            let record = try reader.offset(reader.u64(end - 12))
            guard try reader.u32(record) == 0x0606_4B50 else { throw FormatProblem("corrupt zip: no zip64 end record at offset \(record)") }
            count = try reader.offset(reader.u64(record + 32))
            directorySize = try reader.offset(reader.u64(record + 40))
            directoryOffset = try reader.offset(reader.u64(record + 48))
        }
        guard directoryOffset <= bytes.count && directorySize <= bytes.count - directoryOffset else {
            throw FormatProblem("truncated or corrupt zip: the central directory (\(directorySize) bytes at offset \(directoryOffset)) lies beyond the end of the \(bytes.count)-byte file")
        }

        var members = [Member]()
        var position = directoryOffset
        for index in 0..<count {
            guard try reader.u32(position) == 0x0201_4B50 else { throw FormatProblem("corrupt zip: central directory entry \(index) has a bad signature") }
            let flags = try reader.u16(position + 8)
            let method = try reader.u16(position + 10)
            let crc = try reader.u32(position + 16)
            var compressedSize = Int(try reader.u32(position + 20))
            var size = Int(try reader.u32(position + 24))
            let nameLength = Int(try reader.u16(position + 28))
            let extraLength = Int(try reader.u16(position + 30))
            let commentLength = Int(try reader.u16(position + 32))
            var localHeaderOffset = Int(try reader.u32(position + 42))
            let name = String(decoding: try reader.bytes(position + 46, nameLength), as: UTF8.self)
            guard flags & 1 == 0 else { throw FormatProblem("member \(name) is encrypted") }

            // The zip64 extra field holds, in this order, those of the sizes and offset that
            // are saturated in the fixed fields.
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try reader.u16(extra), length = Int(try reader.u16(extra + 2))
                if id == 0x0001 {
                    var field = extra + 4
                    let fieldEnd = field + length
                    if size == 0xFFFF_FFFF { size = try reader.zip64Field(&field, end: fieldEnd, member: name) }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try reader.zip64Field(&field, end: fieldEnd, member: name) }
                    if localHeaderOffset == 0xFFFF_FFFF { localHeaderOffset = try reader.zip64Field(&field, end: fieldEnd, member: name) }
                }
                extra += 4 + length
            }
            members.append(Member(name: name, method: method, crc: crc, compressedSize: compressedSize, size: size, localHeaderOffset: localHeaderOffset))
            position = extraEnd + commentLength
        }
        self.members = members
    }

    /// The uncompressed bytes of `member`, checked against its CRC-32 and size.
    func contents(of member: Member) throws(FormatProblem) -> Data {
        let reader = ByteReader(bytes)
        let local = member.localHeaderOffset
        guard try reader.u32(local) == 0x0403_4B50 else { throw FormatProblem("corrupt zip: no local header at offset \(local)") }
        let start = local + 30 + Int(try reader.u16(local + 26)) + Int(try reader.u16(local + 28))
        guard start <= bytes.count && member.compressedSize <= bytes.count - start else {
            throw FormatProblem("truncated: the member's \(member.compressedSize) bytes at offset \(start) extend past the end of the \(bytes.count)-byte file")
        }
        let stored = bytes[(bytes.startIndex + start)..<(bytes.startIndex + start + member.compressedSize)]
        let contents: Data
        switch member.method {
        case 0:
            guard member.compressedSize == member.size else { throw FormatProblem("corrupt zip: a stored member whose sizes differ") }
            contents = Data(stored)
        case 8:
            // Deflate expands at most about 1032:1; a larger claim is corruption, not a reason
            // to reserve that much memory.
            guard member.size / 1032 <= member.compressedSize + 1 else {
                throw FormatProblem("corrupt zip: \(member.compressedSize) compressed bytes cannot hold the \(member.size) declared")
            }
            do {
                contents = Data(try Compression.inflate(stored, expectedCount: member.size, format: .zip, source: member.name))
            } catch {
                throw FormatProblem(error.problem)
            }
        default:
            throw FormatProblem("unsupported compression method \(member.method) (only stored and deflated members are read)")
        }
        let crc = contents.withUnsafeBytes { Compression.crc32($0) }
        guard crc == member.crc else {
            throw FormatProblem("CRC mismatch: the data's CRC-32 is \(String(crc, radix: 16)), the archive records \(String(member.crc, radix: 16)) (the file is corrupt)")
        }
        return contents
    }

    /// The end of central directory record: the last one, searched backwards over the
    /// trailing comment (at most 65535 bytes).
    private static func findEndOfCentralDirectory(_ reader: ByteReader) throws(FormatProblem) -> Int {
        let count = reader.bytes.count
        guard count >= 22 else { throw FormatProblem("not a zip archive (or truncated): \(count) bytes, shorter than a zip end record") }
        var position = count - 22
        while position >= max(0, count - 22 - 0xFFFF) {
            if try reader.u32(position) == 0x0605_4B50 { return position }
            position -= 1
        }
        throw FormatProblem("not a zip archive (or truncated): no end of central directory record")
    }
}


/// Little-endian fields at offsets into the archive, bounds-checked.
private struct ByteReader {
    let bytes: Data

    init(_ bytes: Data) { self.bytes = bytes }

    func bytes(_ offset: Int, _ count: Int) throws(FormatProblem) -> Data {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw FormatProblem("truncated or corrupt zip: a record at offset \(offset) extends past the end of the \(bytes.count)-byte file")
        }
        return bytes[(bytes.startIndex + offset)..<(bytes.startIndex + offset + count)]
    }

    private func integer(_ offset: Int, _ size: Int) throws(FormatProblem) -> UInt64 {
        try bytes(offset, size).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    func u16(_ offset: Int) throws(FormatProblem) -> UInt16 { UInt16(try integer(offset, 2)) }
    func u32(_ offset: Int) throws(FormatProblem) -> UInt32 { UInt32(try integer(offset, 4)) }
    func u64(_ offset: Int) throws(FormatProblem) -> UInt64 { try integer(offset, 8) }

    /// A 64-bit offset into the file as an Int.
    func offset(_ value: UInt64) throws(FormatProblem) -> Int {
        guard value <= UInt64(bytes.count) else { throw FormatProblem("corrupt zip: an offset or size of \(value) bytes exceeds the \(bytes.count)-byte file") }
        return Int(value)
    }

    /// The next 8-byte value of a zip64 extra field ending at `end`.
    func zip64Field(_ field: inout Int, end: Int, member: String) throws(FormatProblem) -> Int {
        guard field + 8 <= end else { throw FormatProblem("corrupt zip: the zip64 extra field of member \(member) is too short") }
        let value = try u64(field)
        guard value <= UInt64(Int.max) else { throw FormatProblem("corrupt zip: member \(member) claims \(value) bytes") }
        field += 8
        return Int(value)
    }
}
