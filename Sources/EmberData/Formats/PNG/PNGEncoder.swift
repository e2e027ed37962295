import EmberIO
import Foundation

extension Image {
    /// The image as a PNG file: 8-bit gray, gray+alpha, RGB or RGBA for 1, 2, 3 or 4 channels,
    /// not interlaced, each row filtered by the smallest-sum-of-differences heuristic, the
    /// data deflated at zlib's default level in IDAT chunks of at most 1 MiB.
    public func pngData() -> Data {
        let colorTypes: [Int: PNGColorType] = [1: .gray, 2: .grayAlpha, 3: .rgb, 4: .rgba]
        guard let colorType = colorTypes[channels] else {
            preconditionFailure("pngData: PNG holds 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels; this image has \(channels)")
        }
        precondition(width <= PNGHeader.maximumDimension && height <= PNGHeader.maximumDimension,
                     "pngData: PNG dimensions are at most 2^31-1; this image is \(width)x\(height)")
        let ihdr = ZlibStream.bigEndianBytes(UInt32(width)) + ZlibStream.bigEndianBytes(UInt32(height))
            + [8, colorType.rawValue, 0, 0, 0]
        let compressed = ZlibStream.compress(filteredRows())
        var file = PNGChunk.signature + PNGChunk.encoded(type: "IHDR", data: ihdr[...])
        let pieceSize = 1 << 20
        for start in stride(from: 0, to: compressed.count, by: pieceSize) {
            file += PNGChunk.encoded(type: "IDAT", data: compressed[start..<min(start + pieceSize, compressed.count)])
        }
        file += PNGChunk.encoded(type: "IEND", data: [])
        return Data(file)
    }

    /// Writes the image to `url` as a PNG file (see `pngData()`), atomically: a failure leaves
    /// any existing file untouched.
    public func writePNG(to url: URL) throws {
        try AtomicFile.write(pngData(), to: url, format: .png)
    }

    /// Every row behind the filter byte chosen for it.
    private func filteredRows() -> [UInt8] {
        let rowBytes = width * channels
        var output = [UInt8](repeating: 0, count: height * (1 + rowBytes))
        let zeros = [UInt8](repeating: 0, count: rowBytes)
        var scratch = [UInt8](repeating: 0, count: rowBytes)
        pixels.withUnsafeBufferPointer { pixels in
            zeros.withUnsafeBufferPointer { zeros in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    output.withUnsafeMutableBufferPointer { output in
                        for y in 0..<height {
                            let row = pixels.baseAddress! + y * rowBytes
                            let previous = y == 0 ? zeros.baseAddress! : row - rowBytes
                            let target = output.baseAddress! + y * (1 + rowBytes)
                            let filter = PNGFilter.filterWithBestChoice(row, previous: previous, count: rowBytes, stride: channels,
                                                                        scratch: scratch.baseAddress!, into: target + 1)
                            target[0] = filter.rawValue
                        }
                    }
                }
            }
        }
        return output
    }
}
