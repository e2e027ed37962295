import Foundation
import XCTest
@testable import EmberData

/// Netpbm details beyond the fixtures (which ImageFileTests compares with Pillow), and every
/// malformed case refused with an error naming the file and the problem.
final class ImageFileNetpbmTests: XCTestCase {
    private func decode(_ text: String, _ raw: [UInt8] = []) throws -> Image {
        try Image(encoded: Array(text.utf8) + raw, source: "scan.pnm")
    }

    func testRawAndPlainFormsAgree() throws {
        XCTAssertEqual(try decode("P2 3 1 255 0 128 255"), try decode("P5 3 1 255\n", [0, 128, 255]))
        XCTAssertEqual(try decode("P3\n1 1\n255\n1 2 3\n"), try decode("P6\n1 1\n255\n", [1, 2, 3]))
        // PBM: 1 is black. Raw rows are padded to whole bytes; plain pixels need no spaces.
        XCTAssertEqual(try decode("P1 3 2 101\n011").pixels, [0, 255, 0, 255, 0, 0])
        XCTAssertEqual(try decode("P4 3 2\n", [0b1010_0000, 0b0110_0000]).pixels, [0, 255, 0, 255, 0, 0])
    }

    func testMaxvalRescalingMatchesPillowsRounding() throws {
        // round(v / maxval * 255), ties to even: 50/100 -> 127.5 -> 128, 3/7 -> 109.29 -> 109.
        XCTAssertEqual(try decode("P5 4 1 100\n", [0, 50, 99, 100]).pixels, [0, 128, 252, 255])
        XCTAssertEqual(try decode("P2 3 1 7 0 3 7").pixels, [0, 109, 255])
        XCTAssertEqual(try decode("P5 2 1 65535\n", [0x80, 0x7F, 0xFF, 0xFF]).pixels, [128, 255])
        XCTAssertEqual(try decode("P2 2 1 1 0 1").pixels, [0, 255])
    }

    func testCommentsAndWhitespaceInTheHeader() throws {
        let image = try decode("P5#magic\n# full line\r\n 2\t# width\n1 # height\n255\n", [7, 9])
        XCTAssertEqual(image.pixels, [7, 9])
        // Bytes after the first image are ignored.
        XCTAssertEqual(try decode("P5 1 1 255\n", [4, 5, 6]).pixels, [4])
    }

    func testHeaderErrors() {
        let cases: [(String, String)] = [
            ("P5 3 1 0\n", "scan.pnm: P5 (PGM): the maxval is 0; Netpbm allows 1 to 65535"),
            ("P6 3 1 65536\n", "the maxval is 65536"),
            ("P5 0 1 255\n", "P5 (PGM): the image is 0x1; both must be at least 1"),
            ("P4 3 0\n", "P4 (PBM): the image is 3x0"),
            ("P5 3x 2 255\n", "expected the width as a decimal number at byte 4, found \"x\""),
            ("P6 3 -2 255\n", "expected the height as a decimal number at byte 5, found \"-\""),
            ("P5 3", "truncated: the header ends before the height"),
            ("P2 3 2 # no maxval", "truncated: the header ends before the maxval"),
            ("P5 1234567890 1 255\n", "the width at byte 3 has more than 9 digits"),
            ("P5 1 1 255", "the header's last number must be followed by one whitespace byte, then the pixel data"),
        ]
        for (text, message) in cases { assertThrows(try decode(text), message) }
    }

    func testShortPixelData() {
        assertThrows(try decode("P5 3 2 255\n", [1, 2, 3, 4, 5]), "scan.pnm", "P5 (PGM): short pixel data: 3x2x1 samples of 1 byte (maxval 255) need 6 bytes after the header, the file has 5")
        assertThrows(try decode("P6 2 1 1000\n", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5]), "P6 (PPM): short pixel data: 2x1x3 samples of 2 bytes (maxval 1000) need 12 bytes after the header, the file has 10")
        assertThrows(try decode("P4 9 2\n", [0, 0, 0]), "P4 (PBM): short pixel data: 9x2 pixels of 1 bit (rows padded to whole bytes) need 4 bytes after the header, the file has 3")
        assertThrows(try decode("P2 2 2 255 1 2 3"), "P2 (PGM): short pixel data: the file ends after 3 of the 4 samples")
        assertThrows(try decode("P1 3 1 1 0"), "P1 (PBM): short pixel data: the file ends after 2 of the 3 pixels")
    }

    func testBadSamples() {
        assertThrows(try decode("P5 2 2 100\n", [0, 1, 2, 101]), "P5 (PGM): the sample of pixel (x: 1, y: 1) is 101, above the maxval 100")
        assertThrows(try decode("P6 2 1 1000\n", [0, 1, 0, 2, 0, 3, 0x03, 0xE9, 0, 0, 0, 0]), "the sample of pixel (x: 1, y: 0) is 1001, above the maxval 1000")
        assertThrows(try decode("P3 1 1 9 1 2 10"), "P3 (PPM): the sample of pixel (x: 0, y: 0) is 10, above the maxval 9")
        assertThrows(try decode("P2 2 1 255 1 x"), "expected sample 1 as a decimal number at byte 13, found \"x\"")
        assertThrows(try decode("P1 2 1 1 2"), "P1 (PBM): pixel 1 at byte 9 is \"2\"; plain PBM pixels are 0 and 1")
    }
}
