import EmberIO
/// Decoding PNG files (ISO/IEC 15948, the W3C PNG specification) into 8-bit images.
///
/// Every colour type and bit depth, the five filters and Adam7 interlacing are read. Pixels
/// come out as 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels: palette images become
/// RGB, and a tRNS chunk adds an alpha channel (palette alpha, or 0 where a gray or RGB pixel
/// equals the key colour, compared at full precision). Samples below 8 bits are scaled to
/// 0-255 by bit replication; 16-bit samples keep their high byte, as Pillow does for RGB.
/// Ancillary chunks (text, gamma, colour profiles...) are skipped; an unknown critical chunk,
/// a bad CRC, or anything the specification forbids is an error naming the problem.
enum PNGDecoder {
    /// tRNS: one alpha per palette entry, or the gray or RGB key colour that is transparent.
    enum Transparency {
        case palette([UInt8])
        case grayKey(Int)
        case rgbKey(Int, Int, Int)
    }

    /// The image in `bytes`, a whole PNG file; `source` names it in errors. Images of more than
    /// `maximumPixels` pixels are refused before their data is decompressed.
    static func decode(_ bytes: [UInt8], source: String, maximumPixels: Int) throws(FileError) -> Image {
        func fail(_ problem: String) -> FileError { FileError(.png, path: source, problem: problem) }
        guard bytes.starts(with: PNGChunk.signature) else { throw fail("not a PNG file: it does not start with the 8-byte PNG signature") }

        var reader = PNGChunkReader(bytes: bytes, source: source)
        var header: PNGHeader?
        var palette: [UInt8]?
        var transparency: Transparency?
        var compressed = [UInt8]()
        var idatSeen = false, idatEnded = false, iendSeen = false
        while let chunk = try reader.next() {
            guard let current = header else {
                guard chunk.type == "IHDR" else { throw fail("the first chunk is \(chunk.type); a PNG file starts with IHDR") }
                header = try PNGHeader(chunk.data, source: source)
                continue
            }
            if idatSeen && chunk.type != "IDAT" { idatEnded = true }
            switch chunk.type {
            case "IHDR":
                throw fail("a second IHDR chunk at byte \(chunk.offset)")
            case "PLTE":
                guard palette == nil else { throw fail("a second PLTE chunk at byte \(chunk.offset)") }
                guard !idatSeen else { throw fail("PLTE comes after the image data (IDAT); it must come before") }
                guard transparency == nil else { throw fail("PLTE comes after tRNS; it must come before") }
                guard current.colorType != .gray && current.colorType != .grayAlpha else {
                    throw fail("a PLTE chunk in an image of colour type \(current.colorType.rawValue) (\(current.colorType.name)), which cannot have a palette")
                }
                guard chunk.data.count % 3 == 0, (3...768).contains(chunk.data.count) else {
                    throw fail("PLTE holds \(chunk.data.count) bytes; a palette is 1 to 256 RGB entries of 3 bytes")
                }
                palette = Array(chunk.data)
            case "tRNS":
                guard transparency == nil else { throw fail("a second tRNS chunk at byte \(chunk.offset)") }
                guard !idatSeen else { throw fail("tRNS comes after the image data (IDAT); it must come before") }
                transparency = try readTransparency(chunk.data, header: current, palette: palette, fail: fail)
            case "IDAT":
                guard !idatEnded else { throw fail("an IDAT chunk at byte \(chunk.offset) after other chunks; the image data must be in consecutive IDAT chunks") }
                idatSeen = true
                compressed += chunk.data
            case "IEND":
                iendSeen = true
            default:
                guard !chunk.isCritical else {
                    throw fail("unknown critical chunk \(chunk.type) at byte \(chunk.offset): its upper-case first letter says the image cannot be shown without understanding it")
                }
            }
            // Bytes after IEND are ignored, as libpng and Pillow do.
            if iendSeen { break }
        }
        guard let header else { throw fail("truncated: the file ends after the PNG signature, before the IHDR chunk") }
        guard idatSeen else { throw fail("no IDAT chunk: the file holds no image data") }
        guard iendSeen else { throw fail("truncated: the file ends before the IEND chunk") }
        if header.colorType == .palette && palette == nil { throw fail("a palette image (colour type 3) without a PLTE chunk") }

        guard header.width * header.height <= maximumPixels else {
            throw fail("the image is \(header.width)x\(header.height), \(header.width * header.height) pixels, more than the limit of \(maximumPixels) (a guard against decompression bombs)")
        }
        // Deflate expands at most about 1032:1: refuse before allocating what cannot be there.
        guard let filteredCount = header.filteredDataCount, filteredCount / 1032 <= compressed.count else {
            throw fail("the IDAT data (\(compressed.count) compressed bytes) are too few for a \(header.summary) image")
        }
        var filtered = try ZlibStream.decompress(compressed, expectedCount: filteredCount, source: source,
                                                 context: "the IDAT data of a \(header.summary) image")
        return try PNGPixels(header: header, palette: palette, transparency: transparency, source: source).image(from: &filtered)
    }

    private static func readTransparency(_ data: ArraySlice<UInt8>, header: PNGHeader, palette: [UInt8]?,
                                         fail: (String) -> FileError) throws(FileError) -> Transparency {
        let values = stride(from: data.startIndex, to: data.endIndex - 1, by: 2).map { Int(data[$0]) << 8 | Int(data[$0 + 1]) }
        switch header.colorType {
        case .gray:
            guard data.count == 2 else { throw fail("tRNS holds \(data.count) bytes; a gray image's key is 2 bytes") }
            return .grayKey(values[0])
        case .rgb:
            guard data.count == 6 else { throw fail("tRNS holds \(data.count) bytes; an RGB image's key is 6 bytes") }
            return .rgbKey(values[0], values[1], values[2])
        case .palette:
            guard let palette else { throw fail("tRNS comes before PLTE; it must come after") }
            guard data.count <= palette.count / 3 else {
                throw fail("tRNS holds \(data.count) alpha values, more than the palette's \(palette.count / 3) entries")
            }
            return .palette(Array(data))
        case .grayAlpha, .rgba:
            throw fail("a tRNS chunk in an image of colour type \(header.colorType.rawValue) (\(header.colorType.name)), which has an alpha channel already")
        }
    }
}
