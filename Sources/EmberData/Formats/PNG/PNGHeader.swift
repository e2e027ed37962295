import EmberIO
/// PNG's colour types (IHDR's tenth byte): what one pixel's samples are.
enum PNGColorType: UInt8 {
    case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6

    var samplesPerPixel: Int {
        switch self {
        case .gray, .palette: return 1
        case .grayAlpha: return 2
        case .rgb: return 3
        case .rgba: return 4
        }
    }

    /// The bit depths the specification allows for the type.
    var bitDepths: [Int] {
        switch self {
        case .gray: return [1, 2, 4, 8, 16]
        case .palette: return [1, 2, 4, 8]
        case .rgb, .grayAlpha, .rgba: return [8, 16]
        }
    }

    var name: String {
        switch self {
        case .gray: return "gray"
        case .rgb: return "RGB"
        case .palette: return "palette"
        case .grayAlpha: return "gray+alpha"
        case .rgba: return "RGBA"
        }
    }
}

/// One Adam7 pass (or the whole image when not interlaced): the pixels at x = xStart +
/// i * xStep, y = yStart + j * yStep, stored as `height` rows of `width` pixels.
struct PNGPass {
    let number: Int
    let xStart: Int, yStart: Int, xStep: Int, yStep: Int
    let width: Int, height: Int
}

/// The IHDR chunk, validated: dimensions, bit depth, colour type and interlacing.
struct PNGHeader {
    /// PNG's largest width and height, 2^31 - 1.
    static let maximumDimension = Int(Int32.max)

    let width: Int
    let height: Int
    let bitDepth: Int
    let colorType: PNGColorType
    let interlaced: Bool

    init(_ data: ArraySlice<UInt8>, source: String) throws(FileError) {
        func fail(_ problem: String) -> FileError { FileError(.png, path: source, problem: "IHDR: \(problem)") }
        guard data.count == 13 else { throw fail("holds \(data.count) bytes, 13 expected") }
        let bytes = Array(data)
        let width = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
        let height = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
        guard (1...Self.maximumDimension).contains(width), (1...Self.maximumDimension).contains(height) else {
            throw fail("the image is \(width) wide and \(height) high; PNG dimensions are 1 to 2^31-1")
        }
        guard let colorType = PNGColorType(rawValue: bytes[9]) else {
            throw fail("colour type \(bytes[9]); PNG defines 0 (gray), 2 (RGB), 3 (palette), 4 (gray+alpha) and 6 (RGBA)")
        }
        let bitDepth = Int(bytes[8])
        guard colorType.bitDepths.contains(bitDepth) else {
            throw fail("bit depth \(bitDepth) with colour type \(colorType.rawValue) (\(colorType.name)), which allows \(colorType.bitDepths.map(String.init).joined(separator: ", "))")
        }
        guard bytes[10] == 0 else { throw fail("compression method \(bytes[10]); PNG defines only 0 (deflate)") }
        guard bytes[11] == 0 else { throw fail("filter method \(bytes[11]); PNG defines only 0 (the five adaptive filters)") }
        guard bytes[12] <= 1 else { throw fail("interlace method \(bytes[12]); PNG defines 0 (none) and 1 (Adam7)") }
        self.width = width
        self.height = height
        self.bitDepth = bitDepth
        self.colorType = colorType
        interlaced = bytes[12] == 1
    }

    var bitsPerPixel: Int { bitDepth * colorType.samplesPerPixel }

    /// The byte distance filters look back to: one pixel, or one byte below 8 bits per pixel.
    var filterStride: Int { max(1, bitsPerPixel / 8) }

    /// The bytes of one row of `pixels` pixels, without its filter byte.
    func rowBytes(pixels: Int) -> Int { (pixels * bitsPerPixel + 7) / 8 }

    /// The passes holding pixels, in file order: Adam7's seven (less those that are empty in
    /// small images), or the whole image.
    var passes: [PNGPass] {
        guard interlaced else { return [PNGPass(number: 0, xStart: 0, yStart: 0, xStep: 1, yStep: 1, width: width, height: height)] }
        let adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        return adam7.enumerated().compactMap { number, pass in
            let (xStart, yStart, xStep, yStep) = pass
            let passWidth = (width - xStart + xStep - 1) / xStep, passHeight = (height - yStart + yStep - 1) / yStep
            guard passWidth > 0 && passHeight > 0 else { return nil }
            return PNGPass(number: number + 1, xStart: xStart, yStart: yStart, xStep: xStep, yStep: yStep, width: passWidth, height: passHeight)
        }
    }

    /// The size of the decompressed image data (every row with its filter byte), or nil when
    /// it does not fit in an Int.
    var filteredDataCount: Int? {
        var total = 0
        for pass in passes {
            let (rows, overflow) = (1 + rowBytes(pixels: pass.width)).multipliedReportingOverflow(by: pass.height)
            guard !overflow else { return nil }
            let (sum, sumOverflow) = total.addingReportingOverflow(rows)
            guard !sumOverflow else { return nil }
            total = sum
        }
        return total
    }

    /// How the header reads in errors: "13x11 RGB, 8-bit, Adam7-interlaced".
    var summary: String {
        "\(width)x\(height) \(colorType.name), \(bitDepth)-bit\(interlaced ? ", Adam7-interlaced" : "")"
    }
}
