/// Writing a zip archive member by member to a byte sink (the container of `.npz` files).
/// Every member carries zip64 sizes and offsets, as NumPy's `np.savez` writes its local
/// headers, so archives past 4 GiB need no other path. Timestamps are fixed at 1980-01-01 so
/// the same arrays always give the same bytes.
struct ZipWriter {
    private var directory = [UInt8]()
    private var offset = 0
    private var count = 0

    /// Appends a member holding `contents`, deflated (zlib level 6, as Python's zipfile) or stored.
    mutating func add(name: String, contents: [UInt8], deflated: Bool, to sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let crc = contents.withUnsafeBytes { Compression.crc32($0) }
        let data = deflated ? contents.withUnsafeBytes { Compression.deflate($0) } : contents
        let nameBytes = Array(name.utf8)
        // Bit 11: the name is UTF-8.
        let flags: UInt16 = name.utf8.allSatisfy { $0 < 0x80 } ? 0 : 0x800
        let method: UInt16 = deflated ? 8 : 0
        let dosDate: UInt16 = (1 << 5) | 1

        var local = [UInt8]()
        local.append(u32: 0x0403_4B50)
        local.append(u16: 45)  // version needed: zip64
        local.append(u16: flags)
        local.append(u16: method)
        local.append(u16: 0)
        local.append(u16: dosDate)
        local.append(u32: crc)
        local.append(u32: 0xFFFF_FFFF)
        local.append(u32: 0xFFFF_FFFF)
        local.append(u16: UInt16(nameBytes.count))
        local.append(u16: 20)
        local += nameBytes
        local.append(u16: 0x0001)
        local.append(u16: 16)
        local.append(u64: UInt64(contents.count))
        local.append(u64: UInt64(data.count))
        try local.withUnsafeBytes(sink)
        try data.withUnsafeBytes(sink)

        directory.append(u32: 0x0201_4B50)
        directory.append(u16: 0x0300 | 45)  // made by Unix, zip64
        directory.append(u16: 45)
        directory.append(u16: flags)
        directory.append(u16: method)
        directory.append(u16: 0)
        directory.append(u16: dosDate)
        directory.append(u32: crc)
        directory.append(u32: 0xFFFF_FFFF)
        directory.append(u32: 0xFFFF_FFFF)
        directory.append(u16: UInt16(nameBytes.count))
        directory.append(u16: 28)
        directory.append(u16: 0)  // comment
        directory.append(u16: 0)  // disk
        directory.append(u16: 0)  // internal attributes
        directory.append(u32: 0o100644 << 16)  // a regular file, rw-r--r--
        directory.append(u32: 0xFFFF_FFFF)
        directory += nameBytes
        directory.append(u16: 0x0001)
        directory.append(u16: 24)
        directory.append(u64: UInt64(contents.count))
        directory.append(u64: UInt64(data.count))
        directory.append(u64: UInt64(offset))

        offset += local.count + data.count
        count += 1
    }

    /// Writes the central directory and the end records.
    func finish(to sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var end = directory
        let zip64End = offset + directory.count
        end.append(u32: 0x0606_4B50)
        end.append(u64: 44)  // the size of the rest of this record
        end.append(u16: 45)
        end.append(u16: 45)
        end.append(u32: 0)
        end.append(u32: 0)
        end.append(u64: UInt64(count))
        end.append(u64: UInt64(count))
        end.append(u64: UInt64(directory.count))
        end.append(u64: UInt64(offset))

        end.append(u32: 0x0706_4B50)
        end.append(u32: 0)
        end.append(u64: UInt64(zip64End))
        end.append(u32: 1)

        // Values too large for the classic record are saturated, sending readers to zip64's.
        end.append(u32: 0x0605_4B50)
        end.append(u16: 0)
        end.append(u16: 0)
        end.append(u16: UInt16(min(count, 0xFFFF)))
        end.append(u16: UInt16(min(count, 0xFFFF)))
        end.append(u32: UInt32(min(directory.count, 0xFFFF_FFFF)))
        end.append(u32: UInt32(min(offset, 0xFFFF_FFFF)))
        end.append(u16: 0)
        try end.withUnsafeBytes(sink)
    }
}

private extension [UInt8] {
    mutating func append(u16 value: UInt16) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(u32 value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(u64 value: UInt64) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
}
