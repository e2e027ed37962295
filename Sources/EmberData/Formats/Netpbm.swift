import EmberIO
/// Netpbm images (netpbm.sourceforge.net/doc): PBM bitmaps (P1 plain text, P4 packed bits),
/// PGM gray maps (P2, P5) and PPM colour maps (P3, P6). The header holds the magic number,
/// width, height and (except in PBM) the largest sample value, separated by whitespace, with
/// `#` comments running to the end of a line. Raw samples are 1 byte, or 2 big-endian bytes
/// when the maxval exceeds 255.
///
/// Images come out as 8-bit gray (1 channel) or RGB (3). PBM's 1 is black, its 0 white. A
/// maxval other than 255 is rescaled as Pillow does, round(value / maxval * 255) with ties
/// to even. The first image of a file is read; anything after it is ignored.
enum Netpbm {
    /// True when `bytes` start with a Netpbm magic number, P1 to P6, and whitespace or a comment.
    static func hasMagicNumber(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == UInt8(ascii: "P") && (UInt8(ascii: "1")...UInt8(ascii: "6")).contains(bytes[1])
            && (isWhitespace(bytes[2]) || bytes[2] == UInt8(ascii: "#"))
    }

    /// The image in `bytes`, a whole Netpbm file; `source` names it in errors. Images of more
    /// than `maximumPixels` pixels are refused before their pixels are read.
    static func decode(_ bytes: [UInt8], source: String, maximumPixels: Int) throws(FileError) -> Image {
        guard hasMagicNumber(bytes) else {
            throw FileError(.netpbm, path: source, problem: "not a Netpbm file: it does not start with P1 to P6 and whitespace")
        }
        let kind = Int(bytes[1] - UInt8(ascii: "0"))
        let format = ["PBM", "PGM", "PPM"][(kind - 1) % 3]
        var reader = Reader(bytes: bytes, position: 2, source: source, format: "P\(kind) (\(format))")
        let width = try reader.headerNumber("the width")
        let height = try reader.headerNumber("the height")
        let isBitmap = kind == 1 || kind == 4
        let maxval = isBitmap ? 1 : try reader.headerNumber("the maxval")
        guard width > 0 && height > 0 else { throw reader.fail("the image is \(width)x\(height); both must be at least 1") }
        guard (1...65535).contains(maxval) else { throw reader.fail("the maxval is \(maxval); Netpbm allows 1 to 65535") }
        guard width <= maximumPixels / height else {
            throw reader.fail("the image is \(width)x\(height), more than the limit of \(maximumPixels) pixels (a guard against decompression bombs)")
        }
        let channels = kind == 3 || kind == 6 ? 3 : 1
        let sampleCount = width * height * channels
        var pixels = [UInt8](repeating: 0, count: sampleCount)
        switch kind {
        case 1:
            for index in 0..<sampleCount { pixels[index] = try reader.plainBit(index: index, of: sampleCount) ? 0 : 255 }
        case 4:
            try reader.endOfHeader()
            let rowBytes = (width + 7) / 8
            let data = try reader.pixelData(count: rowBytes * height, description: "\(width)x\(height) pixels of 1 bit (rows padded to whole bytes)")
            for y in 0..<height {
                for x in 0..<width where data[data.startIndex + y * rowBytes + x / 8] & (0x80 >> (x % 8)) == 0 {
                    pixels[y * width + x] = 255
                }
            }
        case 2, 3:
            let scale = rescaling(maxval)
            for index in 0..<sampleCount {
                let value = try reader.plainSample(index: index, of: sampleCount)
                guard value <= maxval else { throw reader.sampleAboveMaxval(value, index: index, maxval: maxval, width: width, channels: channels) }
                pixels[index] = scale[value]
            }
        default:
            try reader.endOfHeader()
            let bytesPerSample = maxval > 255 ? 2 : 1
            let data = try reader.pixelData(count: sampleCount * bytesPerSample,
                                            description: "\(width)x\(height)x\(channels) samples of \(bytesPerSample) byte\(bytesPerSample == 2 ? "s" : "") (maxval \(maxval))")
            let scale = rescaling(maxval)
            for index in 0..<sampleCount {
                let at = data.startIndex + index * bytesPerSample
                let value = bytesPerSample == 2 ? Int(data[at]) << 8 | Int(data[at + 1]) : Int(data[at])
                guard value <= maxval else { throw reader.sampleAboveMaxval(value, index: index, maxval: maxval, width: width, channels: channels) }
                pixels[index] = scale[value]
            }
        }
        return Image(height: height, width: width, channels: channels, pixels: pixels)
    }

    /// Every sample value 0...maxval as 8 bits.
    private static func rescaling(_ maxval: Int) -> [UInt8] {
        (0...maxval).map { value in maxval == 255 ? UInt8(value) : UInt8((Double(value) / Double(maxval) * 255).rounded(.toNearestOrEven)) }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// A position in the file, and reading its header and plain-text pixels.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int
        let source: String
        let format: String

        func fail(_ problem: String) -> FileError { FileError(.netpbm, path: source, problem: "\(format): \(problem)") }

        /// Moves past whitespace and comments.
        mutating func skipSeparators() {
            while position < bytes.count {
                if isWhitespace(bytes[position]) {
                    position += 1
                } else if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 0x0A && bytes[position] != 0x0D { position += 1 }
                } else {
                    return
                }
            }
        }

        /// A decimal number, or nil at the end of the file; the error names `what` was expected.
        mutating func number(_ what: String) throws(FileError) -> Int? {
            skipSeparators()
            guard position < bytes.count else { return nil }
            let start = position
            var value = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                guard position - start < 9 else { throw fail("\(what) at byte \(start) has more than 9 digits") }
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                position += 1
            }
            guard position > start, position == bytes.count || isWhitespace(bytes[position]) || bytes[position] == UInt8(ascii: "#") else {
                throw fail("expected \(what) as a decimal number at byte \(position), found \(describe(bytes[position]))")
            }
            return value
        }

        mutating func headerNumber(_ what: String) throws(FileError) -> Int {
            guard let value = try number(what) else { throw fail("truncated: the header ends before \(what)") }
            return value
        }

        /// Raw formats: the header ends with exactly one whitespace byte.
        mutating func endOfHeader() throws(FileError) {
            guard position < bytes.count, isWhitespace(bytes[position]) else {
                throw fail("the header's last number must be followed by one whitespace byte, then the pixel data")
            }
            position += 1
        }

        /// The `count` bytes of raw pixel data after the header.
        mutating func pixelData(count: Int, description: String) throws(FileError) -> ArraySlice<UInt8> {
            let available = bytes.count - position
            guard available >= count else {
                throw fail("short pixel data: \(description) need \(count) bytes after the header, the file has \(available)")
            }
            defer { position += count }
            return bytes[position..<(position + count)]
        }

        /// One plain PBM pixel, "0" or "1"; they need no whitespace between them.
        mutating func plainBit(index: Int, of total: Int) throws(FileError) -> Bool {
            skipSeparators()
            guard position < bytes.count else { throw fail("short pixel data: the file ends after \(index) of the \(total) pixels") }
            let byte = bytes[position]
            guard byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1") else {
                throw fail("pixel \(index) at byte \(position) is \(describe(byte)); plain PBM pixels are 0 and 1")
            }
            position += 1
            return byte == UInt8(ascii: "1")
        }

        mutating func plainSample(index: Int, of total: Int) throws(FileError) -> Int {
            guard let value = try number("sample \(index)") else {
                throw fail("short pixel data: the file ends after \(index) of the \(total) samples")
            }
            return value
        }

        func sampleAboveMaxval(_ value: Int, index: Int, maxval: Int, width: Int, channels: Int) -> FileError {
            let pixel = index / channels
            return fail("the sample of pixel (x: \(pixel % width), y: \(pixel / width)) is \(value), above the maxval \(maxval)")
        }

        private func describe(_ byte: UInt8) -> String {
            (0x21...0x7E).contains(byte) ? "\"\(Character(Unicode.Scalar(byte)))\"" : String(format: "the byte 0x%02x", byte)
        }
    }
}
