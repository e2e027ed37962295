import Foundation
import XCTest
@testable import EmberData

/// Reading image files: every fixture (PNGs of every colour type, bit depth, filter and
/// interlacing; Netpbm files of every kind) decodes to exactly the pixels Pillow gives, and
/// files are recognized by their content.
final class ImageFileTests: XCTestCase {
    func testEveryFixtureDecodesToPillowsPixels() throws {
        let fixtures = try ImageFixtures.load()
        XCTAssertEqual(fixtures.images.count, 72, "fixtures: \(fixtures.generator)")
        for (name, expected) in fixtures.images.sorted(by: { $0.key < $1.key }) {
            let image: Image
            do {
                image = try Image(contentsOf: ImageFixtures.url(name))
            } catch {
                XCTFail("\(name): \(error)")
                continue
            }
            XCTAssertEqual([image.height, image.width, image.channels], [expected.height, expected.width, expected.channels], name)
            guard image.pixels != expected.image.pixels else { continue }
            let first = zip(image.pixels, expected.image.pixels).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
            XCTFail("\(name): \(image.pixels.count) bytes differ from Pillow's from byte \(first)\(expected.note.map { " (\($0))" } ?? "")")
        }
    }

    func testFixturesCoverEveryColourTypeBitDepthAndInterlacing() throws {
        var seen = Set<String>()
        for name in try ImageFixtures.load().images.keys where name.hasSuffix(".png") {
            let bytes = [UInt8](try Data(contentsOf: ImageFixtures.url(name)))
            let header = try PNGHeader(bytes[16..<29], source: name)
            seen.insert("\(header.colorType.rawValue)/\(header.bitDepth)/\(header.interlaced)")
        }
        for colorType in [PNGColorType.gray, .rgb, .palette, .grayAlpha, .rgba] {
            for depth in colorType.bitDepths {
                for interlaced in [false, true] {
                    XCTAssertTrue(seen.contains("\(colorType.rawValue)/\(depth)/\(interlaced)"), "no fixture of colour type \(colorType.rawValue), \(depth) bits, interlaced \(interlaced)")
                }
            }
        }
    }

    func testHandWrittenFixturesUseAllFiveFilters() throws {
        var filters = Set<UInt8>()
        for name in ["c2_d8.png", "c0_d1.png", "c6_d16.png", "pillow_rgb.png", "pillow_rgba.png"] {
            filters.formUnion(try PNGBytes.rowFilters([UInt8](Data(contentsOf: ImageFixtures.url(name)))))
        }
        XCTAssertEqual(filters, [0, 1, 2, 3, 4])
    }

    func testFormatIsRecognizedByContentNotByName() throws {
        let directory = try temporaryDirectory(self)
        let disguisedPNG = directory.appendingPathComponent("photo.jpg")
        try FileManager.default.copyItem(at: ImageFixtures.url("pillow_rgb.png"), to: disguisedPNG)
        XCTAssertEqual(try Image(contentsOf: disguisedPNG), try Image(contentsOf: ImageFixtures.url("pillow_rgb.png")))
        let disguisedPGM = directory.appendingPathComponent("scan.png")
        try FileManager.default.copyItem(at: ImageFixtures.url("pillow.pgm"), to: disguisedPGM)
        XCTAssertEqual(try Image(contentsOf: disguisedPGM).channels, 1)
    }

    func testUnsupportedAndUnknownFormatsAreNamed() {
        let cases: [([UInt8], String)] = [
            (Array("GIF89a".utf8) + [1, 0, 1, 0], "GIF is not supported; convert to PNG or JPEG"),
            (Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8 ".utf8), "WebP is not supported"),
            ([0x49, 0x49, 0x2A, 0, 8, 0, 0, 0], "TIFF is not supported"),
            (Array("BM".utf8) + [UInt8](repeating: 0, count: 30), "BMP is not supported"),
            ([0, 0, 0, 0x1C] + Array("ftypheic".utf8), "HEIF/HEIC is not supported"),
            (Array("P7\nWIDTH 1\n".utf8), "PAM (Netpbm P7) is not supported"),
            ([0x1F, 0x8B, 8, 0], "gzip-compressed"),
            ([], "the file is empty"),
            (Array("<html><body>".utf8), "not a PNG, JPEG or Netpbm (PBM, PGM, PPM) image: the file starts with 3c 68 74 6d 6c 3e 3c 62"),
            (Array("P9 1 1".utf8), "not a PNG, JPEG or Netpbm"),
            (Array(PNGChunk.signature.prefix(4)), "not a PNG, JPEG or Netpbm"),
        ]
        for (bytes, message) in cases {
            assertThrows(try Image(encoded: bytes, source: "upload.bin"), "upload.bin", message)
        }
    }

    func testAMissingFileIsNamed() {
        assertThrows(try Image(contentsOf: URL(fileURLWithPath: "/nonexistent/cat.png")), "/nonexistent/cat.png", "no such file")
    }

    func testImagesAboveThePixelLimitAreRefusedBeforeDecoding() throws {
        let url = try ImageFixtures.url("pillow_rgb.png")  // 24x20 = 480 pixels
        XCTAssertNoThrow(try Image(contentsOf: url, maximumPixels: 480))
        assertThrows(try Image(contentsOf: url, maximumPixels: 479), "24x20, 480 pixels, more than the limit of 479 (a guard against decompression bombs)")
        assertThrows(try Image(contentsOf: ImageFixtures.url("pillow.ppm"), maximumPixels: 34), "7x5, more than the limit of 34 pixels")
        // A header claiming 2^31-1 x 2^31-1 pixels is refused by the default limit.
        let huge = PNGBytes.file(PNGBytes.ihdr(width: Int(Int32.max), height: Int(Int32.max)), PNGBytes.idat([0]), PNGBytes.iend)
        assertThrows(try Image(encoded: huge, source: "bomb.png"), "bomb.png", "more than the limit of \(Image.defaultMaximumPixels)")
    }
}
