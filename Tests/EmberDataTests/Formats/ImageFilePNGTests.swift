import EmberIO
import Foundation
import XCTest
@testable import EmberData

/// PNG writing (read back by Ember's decoder here, by Pillow in ImageFileInteropTests), and
/// every way a PNG file can be broken, each refused with an error naming the file and problem.
final class ImageFilePNGTests: XCTestCase {
    // MARK: Writing

    func testEncodedImagesDecodeBackExactly() throws {
        for channels in 1...4 {
            for (height, width) in [(1, 1), (5, 7), (33, 64)] {
                let image = Image(height: height, width: width, channels: channels, pixels: noise(count: height * width * channels, seed: UInt64(channels * 1000 + width)))
                let data = image.pngData()
                XCTAssertEqual(try Image(encoded: [UInt8](data), source: "round trip"), image, "\(height)x\(width)x\(channels)")
                XCTAssertEqual(data[25], [0, 4, 2, 6][channels - 1], "colour type for \(channels) channels")
            }
        }
    }

    func testEachRowGetsTheFilterWithTheSmallestSumOfDifferences() throws {
        // Rows built so that each filter wins: small values unlike their neighbours (none),
        // a horizontal ramp (sub), a copy of
        // the row above (up), each byte the mean of its left and upper neighbours (average),
        // a step (sub), and a step shifted in level whose bytes each equal the left or upper
        // neighbour, which only Paeth's choice of neighbour predicts everywhere.
        let width = 32
        var rows: [[UInt8]] = [(0..<width).map { UInt8($0 % 2 * 3) }, (0..<width).map { UInt8(($0 + 1) % 2 * 2) }]
        rows.append((0..<width).map { UInt8($0 * 7) })
        rows.append(rows[2])
        var averaged: [UInt8] = [100]
        for x in 1..<width { averaged.append(UInt8((Int(averaged[x - 1]) + Int(rows[3][x])) / 2)) }
        rows.append(averaged)
        rows.append([UInt8](repeating: 10, count: width / 2) + [UInt8](repeating: 200, count: width / 2))
        rows.append([UInt8](repeating: 50, count: width / 2) + [UInt8](repeating: 200, count: width / 2))
        let image = Image(height: rows.count, width: width, channels: 1, pixels: rows.flatMap { $0 })
        let filters = try PNGBytes.rowFilters([UInt8](image.pngData()))
        XCTAssertEqual(filters, [0, 0, 1, 2, 3, 1, 4])
        XCTAssertEqual(try Image(encoded: [UInt8](image.pngData()), source: "filters"), image)
    }

    func testLargeImagesAreSplitIntoIDATChunksOfAtMostOneMebibyte() throws {
        let image = Image(height: 520, width: 700, channels: 3, pixels: noise(count: 520 * 700 * 3, seed: 9))
        let data = [UInt8](image.pngData())
        var reader = PNGChunkReader(bytes: data, source: "large")
        var types = [String](), sizes = [Int]()
        while let chunk = try reader.next() {
            types.append(chunk.type)
            sizes.append(chunk.data.count)
        }
        XCTAssertEqual(types, ["IHDR", "IDAT", "IDAT", "IEND"])
        XCTAssertEqual(sizes[1], 1 << 20)
        XCTAssertEqual(try Image(encoded: data, source: "large"), image)
    }

    func testWritePNGReplacesTheFileAtomically() throws {
        let directory = try temporaryDirectory(self)
        let url = directory.appendingPathComponent("out.png")
        try Data("old".utf8).write(to: url)
        let image = Image(height: 3, width: 4, channels: 2, pixels: noise(count: 24, seed: 3))
        try image.writePNG(to: url)
        XCTAssertEqual(try Image(contentsOf: url), image)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["out.png"])
        XCTAssertThrowsError(try image.writePNG(to: directory.appendingPathComponent("missing/out.png")))
    }

    // MARK: Reading: structure and chunks

    /// A valid 3x2 RGB file's pieces, to break one at a time.
    private let header = PNGBytes.ihdr(width: 3, height: 2)
    private let rows: [UInt8] = [0] + noise(count: 9, seed: 1) + [0] + noise(count: 9, seed: 2)
    private var data: [UInt8] { PNGBytes.idat(rows) }
    private let iend = PNGBytes.iend

    private func assertRefused(_ file: [UInt8], _ fragments: String..., line: UInt = #line) {
        XCTAssertThrowsError(try Image(encoded: file, source: "broken.png"), line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("PNG broken.png: "), message, line: line)
            for fragment in fragments { XCTAssertTrue(message.contains(fragment), "expected “\(fragment)” in: \(message)", line: line) }
        }
    }

    func testTheValidBaseFileDecodes() throws {
        let image = try Image(encoded: PNGBytes.file(header, data, iend), source: "base.png")
        XCTAssertEqual(image.pixels, Array(rows[1..<10] + rows[11..<20]))
    }

    func testTruncatedFiles() {
        let file = PNGBytes.file(header, data, iend)
        assertRefused(Array(PNGChunk.signature), "truncated: the file ends after the PNG signature, before the IHDR chunk")
        assertRefused(Array(file.dropLast(3)), "truncated: chunk IEND at byte", "declares 0 bytes of data and a 4-byte CRC, the file has 1 bytes left")
        assertRefused(Array(file.dropLast(12)), "truncated: the file ends before the IEND chunk")
        assertRefused(Array(file.dropLast(8)), "truncated: the file ends inside the header of the chunk at byte", "(4 of its 8 bytes)")
        assertRefused(Array(file.dropLast(20)), "truncated: chunk IDAT at byte 33 declares")
    }

    func testBadCRCsNameTheChunk() {
        var file = PNGBytes.file(header, data, iend)
        file[33 + 8 + 2] ^= 0x01  // a byte of IDAT's data
        assertRefused(file, "bad CRC in chunk IDAT at byte 33: stored 0x")
        var text = PNGBytes.chunk("tEXt", Array("Title\0cat".utf8))
        text[10] ^= 0x20
        assertRefused(PNGBytes.file(header, text, data, iend), "bad CRC in chunk tEXt at byte 33")
        var ihdr = header
        ihdr[ihdr.count - 1] ^= 0xFF
        assertRefused(PNGBytes.file(ihdr, data, iend), "bad CRC in chunk IHDR at byte 8")
    }

    func testMalformedChunkHeaders() {
        var file = PNGBytes.file(header, data, iend)
        file[33 + 4] = 0x31  // "1DAT"
        assertRefused(file, "the chunk at byte 33 has the type 31 44 41 54, which is not four ASCII letters")
        let oversized = PNGBytes.file(header, [0x80, 0, 0, 0] + Array("IDAT".utf8), iend)
        assertRefused(oversized, "chunk IDAT at byte 33 declares 2147483648 bytes of data; PNG chunks hold at most 2^31-1")
    }

    func testChunkOrderRules() {
        let gamma = PNGBytes.chunk("gAMA", [0, 0, 0xB1, 0x8F])
        assertRefused(PNGBytes.file(gamma, header, data, iend), "the first chunk is gAMA; a PNG file starts with IHDR")
        assertRefused(PNGBytes.file(header, header, data, iend), "a second IHDR chunk at byte 33")
        assertRefused(PNGBytes.file(header, iend), "no IDAT chunk: the file holds no image data")
        let compressed = ZlibStream.compress(rows)
        let split = PNGBytes.chunk("IDAT", Array(compressed.prefix(5))) + gamma + PNGBytes.chunk("IDAT", Array(compressed.dropFirst(5)))
        assertRefused(PNGBytes.file(header, split, iend), "an IDAT chunk at byte", "the image data must be in consecutive IDAT chunks")
    }

    func testAncillaryChunksAreSkippedAndUnknownCriticalOnesRefused() throws {
        let skipped = PNGBytes.chunk("prIv", [1, 2, 3]) + PNGBytes.chunk("tEXt", Array("a\0b".utf8))
        let plain = try Image(encoded: PNGBytes.file(header, data, iend), source: "plain.png")
        XCTAssertEqual(try Image(encoded: PNGBytes.file(header, skipped, data, skipped, iend), source: "extra.png"), plain)
        // Bytes after IEND are ignored.
        XCTAssertEqual(try Image(encoded: PNGBytes.file(header, data, iend, [1, 2, 3]), source: "tail.png"), plain)
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("CgBI", [0, 0, 0, 0]), data, iend), "unknown critical chunk CgBI at byte 33")
        assertRefused(PNGBytes.file(header, data, PNGBytes.chunk("DATA", []), iend), "unknown critical chunk DATA")
    }

    // MARK: Reading: IHDR, PLTE, tRNS

    func testBadHeaderValues() {
        let cases: [([UInt8], String)] = [
            (PNGBytes.chunk("IHDR", Array(header[8..<20])), "IHDR: holds 12 bytes, 13 expected"),
            (PNGBytes.ihdr(width: 0, height: 2), "IHDR: the image is 0 wide and 2 high; PNG dimensions are 1 to 2^31-1"),
            (PNGBytes.ihdr(width: 3, height: 1 << 31), "IHDR: the image is 3 wide and 2147483648 high"),
            (PNGBytes.ihdr(width: 3, height: 2, colorType: 5), "IHDR: colour type 5; PNG defines 0 (gray), 2 (RGB), 3 (palette), 4 (gray+alpha) and 6 (RGBA)"),
            (PNGBytes.ihdr(width: 3, height: 2, depth: 4), "IHDR: bit depth 4 with colour type 2 (RGB), which allows 8, 16"),
            (PNGBytes.ihdr(width: 3, height: 2, depth: 16, colorType: 3), "bit depth 16 with colour type 3 (palette), which allows 1, 2, 4, 8"),
            (PNGBytes.ihdr(width: 3, height: 2, depth: 3, colorType: 0), "bit depth 3 with colour type 0 (gray)"),
            (PNGBytes.ihdr(width: 3, height: 2, compression: 1), "IHDR: compression method 1; PNG defines only 0 (deflate)"),
            (PNGBytes.ihdr(width: 3, height: 2, filter: 1), "IHDR: filter method 1"),
            (PNGBytes.ihdr(width: 3, height: 2, interlace: 2), "IHDR: interlace method 2; PNG defines 0 (none) and 1 (Adam7)"),
        ]
        for (ihdr, message) in cases { assertRefused(PNGBytes.file(ihdr, data, iend), message) }
    }

    func testPaletteRules() {
        let paletteHeader = PNGBytes.ihdr(width: 3, height: 1, colorType: 3)
        let indices = PNGBytes.idat([0, 0, 1, 1])
        let plte = PNGBytes.chunk("PLTE", [10, 20, 30, 40, 50, 60])
        XCTAssertEqual(try Image(encoded: PNGBytes.file(paletteHeader, plte, indices, iend), source: "p.png").pixels, [10, 20, 30, 40, 50, 60, 40, 50, 60])
        assertRefused(PNGBytes.file(paletteHeader, indices, iend), "a palette image (colour type 3) without a PLTE chunk")
        assertRefused(PNGBytes.file(paletteHeader, plte, PNGBytes.idat([0, 0, 1, 5]), iend), "pixel (x: 2, y: 0) uses palette entry 5, the PLTE chunk has 2 entries")
        assertRefused(PNGBytes.file(paletteHeader, PNGBytes.chunk("PLTE", [1, 2, 3, 4]), indices, iend), "PLTE holds 4 bytes; a palette is 1 to 256 RGB entries of 3 bytes")
        assertRefused(PNGBytes.file(paletteHeader, PNGBytes.chunk("PLTE", []), indices, iend), "PLTE holds 0 bytes")
        assertRefused(PNGBytes.file(paletteHeader, plte, plte, indices, iend), "a second PLTE chunk")
        assertRefused(PNGBytes.file(paletteHeader, indices, plte, iend), "PLTE comes after the image data (IDAT)")
        let gray = PNGBytes.ihdr(width: 3, height: 1, colorType: 0)
        assertRefused(PNGBytes.file(gray, plte, indices, iend), "a PLTE chunk in an image of colour type 0 (gray), which cannot have a palette")
        // An RGB image may carry a suggested palette, which decoding ignores.
        XCTAssertNoThrow(try Image(encoded: PNGBytes.file(header, plte, data, iend), source: "rgb.png"))
        // Interlaced: the error gives the pixel's place in the whole image.
        let interlaced = PNGBytes.ihdr(width: 3, height: 1, colorType: 3, interlace: 1)
        assertRefused(PNGBytes.file(interlaced, plte, PNGBytes.idat([0, 0, 0, 1, 0, 9]), iend), "pixel (x: 1, y: 0) uses palette entry 9")
    }

    func testTransparencyRules() {
        let paletteHeader = PNGBytes.ihdr(width: 3, height: 1, colorType: 3)
        let plte = PNGBytes.chunk("PLTE", [10, 20, 30, 40, 50, 60])
        let indices = PNGBytes.idat([0, 0, 1, 1])
        XCTAssertEqual(try Image(encoded: PNGBytes.file(paletteHeader, plte, PNGBytes.chunk("tRNS", [7]), indices, iend), source: "p.png").pixels,
                       [10, 20, 30, 7, 40, 50, 60, 255, 40, 50, 60, 255])
        assertRefused(PNGBytes.file(paletteHeader, PNGBytes.chunk("tRNS", [7]), plte, indices, iend), "tRNS comes before PLTE; it must come after")
        assertRefused(PNGBytes.file(paletteHeader, plte, PNGBytes.chunk("tRNS", [1, 2, 3]), indices, iend), "tRNS holds 3 alpha values, more than the palette's 2 entries")
        assertRefused(PNGBytes.file(paletteHeader, plte, indices, PNGBytes.chunk("tRNS", [7]), iend), "tRNS comes after the image data (IDAT)")
        assertRefused(PNGBytes.file(paletteHeader, plte, PNGBytes.chunk("tRNS", [7]), PNGBytes.chunk("tRNS", [7]), indices, iend), "a second tRNS chunk")
        let gray = PNGBytes.ihdr(width: 3, height: 1, colorType: 0)
        assertRefused(PNGBytes.file(gray, PNGBytes.chunk("tRNS", [0, 1, 2]), PNGBytes.idat([0, 1, 2, 3]), iend), "tRNS holds 3 bytes; a gray image's key is 2 bytes")
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("tRNS", [0, 1]), data, iend), "tRNS holds 2 bytes; an RGB image's key is 6 bytes")
        let rgba = PNGBytes.ihdr(width: 3, height: 2, colorType: 6)
        assertRefused(PNGBytes.file(rgba, PNGBytes.chunk("tRNS", [0, 1]), data, iend), "a tRNS chunk in an image of colour type 6 (RGBA), which has an alpha channel already")
    }

    // MARK: Reading: the compressed data and filters

    func testImageDataProblems() {
        let short = PNGBytes.idat(Array(rows.dropLast()))
        assertRefused(PNGBytes.file(header, short, iend), "the IDAT data of a 3x2 RGB, 8-bit image", "holds 19 bytes, 20 were declared")
        assertRefused(PNGBytes.file(header, PNGBytes.idat(rows + [0]), iend), "holds 21 bytes, 20 were declared")
        let rawDeflate = rows.withUnsafeBytes { Compression.deflate($0) }
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", rawDeflate), iend), "not a zlib stream: the header")
        var badChecksum = ZlibStream.compress(rows)
        badChecksum[badChecksum.count - 1] ^= 0xFF
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", badChecksum), iend), "the zlib checksum (Adler-32) is 0x")
        var corrupt = ZlibStream.compress(rows)
        corrupt[2] = 0xFF  // an invalid deflate block type
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", corrupt), iend), "the IDAT data", "corrupt compressed data")
        let cut = ZlibStream.compress(rows)
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", Array(cut.prefix(9))), iend), "the IDAT data", "truncated")
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", [0x78, 0x9C]), iend), "too short for a zlib stream")
        assertRefused(PNGBytes.file(header, PNGBytes.chunk("IDAT", [0x78, 0xBB, 0, 0, 0, 0, 0]), iend), "preset dictionary")
        // The header claims far more pixels than the compressed data can hold.
        let big = PNGBytes.ihdr(width: 10_000, height: 10_000)
        assertRefused(PNGBytes.file(big, data, iend), "the IDAT data (", "compressed bytes) are too few for a 10000x10000 RGB, 8-bit image")
    }

    func testUndefinedFilterTypesNameTheRow() {
        var filtered = rows
        filtered[10] = 5
        assertRefused(PNGBytes.file(header, PNGBytes.idat(filtered), iend), "row 1 uses filter type 5; PNG defines 0 (none) to 4 (Paeth)")
        // 1x1, interlaced: only pass 1 holds a (one-pixel) row.
        let interlaced = PNGBytes.ihdr(width: 1, height: 1, interlace: 1)
        assertRefused(PNGBytes.file(interlaced, PNGBytes.idat([9, 1, 2, 3]), iend), "row 0 of Adam7 pass 1 uses filter type 9")
    }
}
