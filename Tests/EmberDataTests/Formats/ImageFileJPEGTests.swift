import EmberIO
import Foundation
import XCTest
@testable import EmberData

/// JPEGFixtures/expected.json: Pillow's pixels for every file in JPEGFixtures/.
struct JPEGFixtures: Decodable {
    let generator: String
    let images: [String: ImageFixtures.Expected]

    static func load() throws -> JPEGFixtures {
        try JSONDecoder().decode(JPEGFixtures.self, from: Data(contentsOf: url("expected.json")))
    }

    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "JPEGFixtures"), "missing fixture \(name)")
    }
}

/// JPEG decoding through libjpeg-turbo against Pillow's pixels (JPEGFixtures/, written by
/// generate_jpeg_fixtures.py), EXIF orientation, and broken files refused with one line.
final class ImageFileJPEGTests: XCTestCase {
    /// Pillow and Ember both decode with libjpeg-turbo's accurate integer IDCT and fancy
    /// upsampling, which libjpeg-turbo keeps bit-exact across its versions and SIMD paths:
    /// the fixtures were written with libjpeg-turbo 3.2, Debian 12 has 2.1.5, and the pixels
    /// are equal. (With fast upsampling they differ by up to 32 levels.)
    private let tolerance = 0

    func testEveryFixtureDecodesToPillowsPixels() throws {
        let fixtures = try JPEGFixtures.load()
        XCTAssertEqual(fixtures.images.count, 19)
        for (name, expected) in fixtures.images.sorted(by: { $0.key < $1.key }) {
            let image = try Image(contentsOf: JPEGFixtures.url(name))
            let reference = expected.image
            XCTAssertEqual([image.height, image.width, image.channels], [reference.height, reference.width, reference.channels], name)
            guard image.pixels.count == reference.pixels.count else { continue }
            let difference = zip(image.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(difference, tolerance, "\(name): pixels differ from Pillow's by up to \(difference) levels")
        }
    }

    func testGrayStaysOneChannelAndCMYKBecomesRGB() throws {
        XCTAssertEqual(try Image(contentsOf: JPEGFixtures.url("gray.jpg")).channels, 1)
        XCTAssertEqual(try Image(contentsOf: JPEGFixtures.url("gray_progressive.jpg")).channels, 1)
        XCTAssertEqual(try Image(contentsOf: JPEGFixtures.url("cmyk.jpg")).channels, 3)
        XCTAssertEqual(try Image(contentsOf: JPEGFixtures.url("progressive_420.jpg")).channels, 3)
    }

    /// The eight files hold the same stored pixels; each orientation turns them its own way.
    func testEXIFOrientationTurnsTheStoredPixels() throws {
        let stored = try Image(contentsOf: JPEGFixtures.url("exif_orientation_1.jpg"))
        XCTAssertEqual([stored.height, stored.width], [12, 20])
        var seen = Set<[UInt8]>()
        for orientation in 1...8 {
            let image = try Image(contentsOf: JPEGFixtures.url("exif_orientation_\(orientation).jpg"))
            XCTAssertEqual([image.height, image.width], orientation >= 5 ? [20, 12] : [12, 20], "orientation \(orientation)")
            XCTAssertEqual(image, stored.oriented(orientation), "orientation \(orientation)")
            seen.insert(image.pixels)
        }
        XCTAssertEqual(seen.count, 8, "every orientation gives different pixels")
        XCTAssertNil(EXIFOrientation.read(Array(try Data(contentsOf: JPEGFixtures.url("baseline_420.jpg")))))
    }

    func testOrientationsOnATinyImage() {
        // 2 rows x 3 columns: a b c / d e f.
        let image = Image(height: 2, width: 3, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        let expected: [Int: (Int, Int, [UInt8])] = [
            1: (2, 3, [1, 2, 3, 4, 5, 6]), 2: (2, 3, [3, 2, 1, 6, 5, 4]), 3: (2, 3, [6, 5, 4, 3, 2, 1]),
            4: (2, 3, [4, 5, 6, 1, 2, 3]), 5: (3, 2, [1, 4, 2, 5, 3, 6]), 6: (3, 2, [4, 1, 5, 2, 6, 3]),
            7: (3, 2, [6, 3, 5, 2, 4, 1]), 8: (3, 2, [3, 6, 2, 5, 1, 4]),
        ]
        for (orientation, (height, width, pixels)) in expected {
            XCTAssertEqual(image.oriented(orientation), Image(height: height, width: width, channels: 1, pixels: pixels), "orientation \(orientation)")
        }
    }

    func testAJPEGNamedPNGIsReadByItsContent() throws {
        let directory = try temporaryDirectory(self)
        let disguised = directory.appendingPathComponent("photo.png")
        try FileManager.default.copyItem(at: JPEGFixtures.url("baseline_420.jpg"), to: disguised)
        XCTAssertEqual(try Image(contentsOf: disguised), try Image(contentsOf: JPEGFixtures.url("baseline_420.jpg")))
    }

    func testTruncatedFilesAreRefusedWithTheFileNamed() throws {
        for name in ["baseline_420.jpg", "progressive_420.jpg", "gray.jpg"] {
            let bytes = Array(try Data(contentsOf: JPEGFixtures.url(name)))
            for length in [3, 20, bytes.count / 3, bytes.count / 2, bytes.count - 2] {
                assertThrows(try Image(encoded: Array(bytes.prefix(length)), source: "cut-\(name)"), "JPEG cut-\(name): cannot")
            }
            // A file cut in its image data says so in words.
            assertThrows(try Image(encoded: Array(bytes.prefix(bytes.count - 2)), source: name), "(the file is truncated: it does not end with the end-of-image marker FF D9)")
        }
    }

    func testCorruptFilesAreRefusedNotDecodedAsGarbage() throws {
        let bytes = Array(try Data(contentsOf: JPEGFixtures.url("baseline_444.jpg")))
        var failures = 0
        for (index, offset) in stride(from: 3, to: bytes.count - 2, by: 7).enumerated() {
            var corrupt = bytes
            corrupt[offset] ^= UInt8(truncatingIfNeeded: 0x5A &+ index)
            do {
                let image = try Image(encoded: corrupt, source: "corrupt.jpg")
                XCTAssertGreaterThan(image.pixels.count, 0)
            } catch {
                XCTAssertEqual(error.format, .jpeg)
                XCTAssertEqual(error.path, "corrupt.jpg")
                XCTAssertFalse(error.description.contains("\n"), error.description)
                failures += 1
            }
        }
        XCTAssertGreaterThan(failures, 10, "flipped bytes in headers and Huffman data are errors")
        // Header markers without an image.
        assertThrows(try Image(encoded: [0xFF, 0xD8, 0xFF, 0xD9], source: "empty.jpg"), "JPEG empty.jpg: cannot read the header")
    }

    func testImagesAboveThePixelLimitAreRefusedBeforeDecoding() throws {
        let url = try JPEGFixtures.url("baseline_420.jpg")  // 37x23 = 851 pixels
        XCTAssertNoThrow(try Image(contentsOf: url, maximumPixels: 851))
        assertThrows(try Image(contentsOf: url, maximumPixels: 850), url.path, "37x23, 851 pixels, more than the limit of 850")
    }
}
