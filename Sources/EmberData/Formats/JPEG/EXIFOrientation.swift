/// The EXIF orientation of a JPEG file (tag 0x0112 of the first IFD of its APP1 "Exif"
/// segment): how the stored pixels must be turned to show the picture upright, as cameras
/// record it instead of rotating the pixels. libjpeg does not read EXIF; this reads the one
/// tag (as torchvision's decode_jpeg does) and ignores a segment it cannot follow, as
/// Pillow's exif_transpose leaves such an image as stored.
enum EXIFOrientation {
    /// The orientation, 2 to 8, when the file records one other than 1 (upright).
    static func read(_ jpeg: [UInt8]) -> Int? {
        guard let tiff = exifPayload(jpeg) else { return nil }
        return orientation(inTIFF: tiff)
    }

    /// The TIFF structure inside the first APP1 segment that starts with "Exif\0\0".
    private static func exifPayload(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var position = 2  // after SOI
        while position + 4 <= bytes.count, bytes[position] == 0xFF {
            let marker = bytes[position + 1]
            // Fill bytes (FF FF ...) may stand before a marker.
            if marker == 0xFF { position += 1; continue }
            // Start of scan or end of image: the metadata segments are over.
            if marker == 0xDA || marker == 0xD9 { return nil }
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            guard length >= 2, position + 2 + length <= bytes.count else { return nil }
            let body = bytes[(position + 4)..<(position + 2 + length)]
            if marker == 0xE1 && body.starts(with: Array("Exif".utf8) + [0, 0]) { return body.dropFirst(6) }
            position += 2 + length
        }
        return nil
    }

    /// Tag 0x0112 (a SHORT) among the entries of IFD0 of a TIFF structure.
    private static func orientation(inTIFF tiff: ArraySlice<UInt8>) -> Int? {
        let base = tiff.startIndex
        guard tiff.count >= 8 else { return nil }
        let littleEndian: Bool
        switch (tiff[base], tiff[base + 1]) {
        case (0x49, 0x49): littleEndian = true   // "II"
        case (0x4D, 0x4D): littleEndian = false  // "MM"
        default: return nil
        }
        func read(_ offset: Int, _ size: Int) -> Int? {
            guard offset >= 0, size <= tiff.count, offset <= tiff.count - size else { return nil }
            let bytes = tiff[(base + offset)..<(base + offset + size)]
            return (littleEndian ? bytes.reversed() : Array(bytes)).reduce(0) { $0 << 8 | Int($1) }
        }
        guard read(2, 2) == 42, let ifd = read(4, 4), let entries = read(ifd, 2) else { return nil }
        for entry in 0..<entries {
            let at = ifd + 2 + 12 * entry
            guard let tag = read(at, 2) else { return nil }
            guard tag == 0x0112 else { continue }
            // Type SHORT (3), one value, held in the entry's first two value bytes.
            guard read(at + 2, 2) == 3, read(at + 4, 4) == 1, let value = read(at + 8, 2) else { return nil }
            return (2...8).contains(value) ? value : nil
        }
        return nil
    }
}
