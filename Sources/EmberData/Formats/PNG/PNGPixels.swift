import EmberIO
/// Turns a PNG's decompressed image data (rows, each behind its filter byte, pass after pass)
/// into an 8-bit Image: unfilters the rows, unpacks their samples, applies the palette and
/// tRNS, and puts interlaced passes' pixels in place.
struct PNGPixels {
    let header: PNGHeader
    let source: String
    /// The output's channels: the colour type's samples, 3 for a palette, plus alpha from tRNS.
    let channels: Int
    private let transparency: PNGDecoder.Transparency?
    /// Palette images: each entry's output pixel (RGB or RGBA), `paletteCount` of them.
    private let paletteTable: [UInt8]
    private let paletteCount: Int

    init(header: PNGHeader, palette: [UInt8]?, transparency: PNGDecoder.Transparency?, source: String) {
        self.header = header
        self.source = source
        self.transparency = transparency
        let hasAlpha = transparency != nil || header.colorType == .grayAlpha || header.colorType == .rgba
        switch header.colorType {
        case .gray, .grayAlpha: channels = hasAlpha ? 2 : 1
        case .rgb, .palette, .rgba: channels = hasAlpha ? 4 : 3
        }
        if header.colorType == .palette, let palette {
            let count = palette.count / 3
            var alphas = [UInt8](repeating: 255, count: count)
            if case .palette(let stored)? = transparency { alphas.replaceSubrange(0..<stored.count, with: stored) }
            var table = [UInt8]()
            table.reserveCapacity(count * channels)
            for entry in 0..<count {
                table += palette[(3 * entry)..<(3 * entry + 3)]
                if channels == 4 { table.append(alphas[entry]) }
            }
            paletteTable = table
            paletteCount = count
        } else {
            paletteTable = []
            paletteCount = 0
        }
    }

    /// The image held by `filtered` (exactly `header.filteredDataCount` bytes), which is
    /// unfiltered in place.
    func image(from filtered: inout [UInt8]) throws(FileError) -> Image {
        let channels = self.channels
        var pixels = [UInt8](repeating: 0, count: header.width * header.height * channels)
        let widest = header.rowBytes(pixels: header.width)
        let zeros = [UInt8](repeating: 0, count: widest)
        // Interlaced passes unpack into `line` first, then spread over the image.
        var line = [UInt8](repeating: 0, count: header.interlaced ? header.width * channels : 0)
        var offset = 0
        try filtered.withUnsafeMutableBufferPointer { (data: inout UnsafeMutableBufferPointer<UInt8>) throws(FileError) in
            try pixels.withUnsafeMutableBufferPointer { (image: inout UnsafeMutableBufferPointer<UInt8>) throws(FileError) in
                try zeros.withUnsafeBufferPointer { (zeros: UnsafeBufferPointer<UInt8>) throws(FileError) in
                    try line.withUnsafeMutableBufferPointer { (line: inout UnsafeMutableBufferPointer<UInt8>) throws(FileError) in
                        let data = data.baseAddress!, image = image.baseAddress!
                        for pass in header.passes {
                            let rowBytes = header.rowBytes(pixels: pass.width)
                            var previous = zeros.baseAddress!
                            for row in 0..<pass.height {
                                let y = pass.yStart + row * pass.yStep
                                guard let filter = PNGFilter(rawValue: data[offset]) else {
                                    let place = header.interlaced ? "row \(row) of Adam7 pass \(pass.number)" : "row \(row)"
                                    throw FileError(.png, path: source, problem: "\(place) uses filter type \(data[offset]); PNG defines 0 (none) to 4 (Paeth)")
                                }
                                let current = data + offset + 1
                                filter.unfilter(current, previous: previous, count: rowBytes, stride: header.filterStride)
                                if header.interlaced {
                                    try unpackRow(current, count: pass.width, into: line.baseAddress!, row: y, pass: pass)
                                    for i in 0..<pass.width {
                                        let target = image + (y * header.width + pass.xStart + i * pass.xStep) * channels
                                        target.update(from: line.baseAddress! + i * channels, count: channels)
                                    }
                                } else {
                                    try unpackRow(current, count: pass.width, into: image + y * header.width * channels, row: y, pass: pass)
                                }
                                previous = UnsafePointer(current)
                                offset += 1 + rowBytes
                            }
                        }
                    }
                }
            }
        }
        return Image(height: header.height, width: header.width, channels: channels, pixels: pixels)
    }

    /// Writes the `count` pixels of one unfiltered row to `output`, one after another.
    private func unpackRow(_ row: UnsafeMutablePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<UInt8>,
                           row y: Int, pass: PNGPass) throws(FileError) {
        // The common cases, which cannot fail, outside the throwing function: release builds
        // (Swift 6.3.1) returned from its early-return copy path with a garbage FileError
        // thrown, for every 8-bit gray, RGB or RGBA image.
        if transparency == nil && header.colorType != .palette && header.bitDepth >= 8 {
            copySamples(row, count: count * header.colorType.samplesPerPixel, into: output)
        } else {
            try unpack(row, count: count, into: output, row: y, pass: pass)
        }
    }

    /// 8-bit samples copied as they are, 16-bit ones cut to their high byte.
    private func copySamples(_ row: UnsafeMutablePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<UInt8>) {
        if header.bitDepth == 8 {
            output.update(from: row, count: count)
        } else {
            for i in 0..<count { output[i] = row[2 * i] }
        }
    }

    /// Unpacks palette indices, samples below 8 bits and key colours.
    private func unpack(_ row: UnsafeMutablePointer<UInt8>, count: Int, into output: UnsafeMutablePointer<UInt8>,
                        row y: Int, pass: PNGPass) throws(FileError) {
        let depth = header.bitDepth, samplesPerPixel = header.colorType.samplesPerPixel
        let mask = (1 << depth) - 1
        func sample(_ index: Int) -> Int {
            switch depth {
            case 16: return Int(row[2 * index]) << 8 | Int(row[2 * index + 1])
            case 8: return Int(row[index])
            default:
                let bit = index * depth
                return Int(row[bit >> 3] >> (8 - depth - (bit & 7))) & mask
            }
        }
        if header.colorType == .palette {
            try paletteTable.withUnsafeBufferPointer { (table: UnsafeBufferPointer<UInt8>) throws(FileError) in
                for i in 0..<count {
                    let index = sample(i)
                    guard index < paletteCount else {
                        throw FileError(.png, path: source, problem: "pixel (x: \(pass.xStart + i * pass.xStep), y: \(y)) uses palette entry \(index), the PLTE chunk has \(paletteCount) entries")
                    }
                    (output + i * channels).update(from: table.baseAddress! + index * channels, count: channels)
                }
            }
            return
        }
        // Gray or RGB below 8 bits or with a key colour: the scale to 8 bits replicates the
        // bits (x255 for 1 bit, x85 for 2, x17 for 4).
        let scale = depth < 8 ? 255 / mask : 1, shift = depth == 16 ? 8 : 0
        for i in 0..<count {
            let pixel = output + i * channels
            var matchesKey = true
            for s in 0..<samplesPerPixel {
                let value = sample(i * samplesPerPixel + s)
                pixel[s] = UInt8(truncatingIfNeeded: (value >> shift) * scale)
                switch transparency {
                case .grayKey(let key)?: matchesKey = value == key
                case .rgbKey(let r, let g, let b)?: matchesKey = matchesKey && value == (s == 0 ? r : s == 1 ? g : b)
                default: break
                }
            }
            if transparency != nil { pixel[samplesPerPixel] = matchesKey ? 0 : 255 }
        }
    }
}
