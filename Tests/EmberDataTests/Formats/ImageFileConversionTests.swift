import XCTest
@testable import EmberData

/// Channel conversions against Pillow's convert("L" / "LA" / "RGB" / "RGBA").
final class ImageFileConversionTests: XCTestCase {
    func testConversionsEqualPillows() throws {
        let fixtures = try ImageFixtures.load()
        XCTAssertEqual(fixtures.conversions.count, 5)
        for (name, targets) in fixtures.conversions.sorted(by: { $0.key < $1.key }) {
            let image = try Image(contentsOf: ImageFixtures.url(name))
            for (channels, hex) in targets {
                let converted = image.converted(toChannels: Int(channels)!)
                XCTAssertEqual(converted.channels, Int(channels)!)
                XCTAssertEqual(converted.pixels, bytes(hex: hex), "\(name) to \(channels) channels")
            }
        }
    }

    func testLumaIsPillowsFixedPointNotRoundedDecimalWeights() {
        // Pure primaries and white, then colours whose decimal luma is exactly .5 (0.114 x 250
        // = 28.5): rounding the decimal weights gives 29, Pillow's fixed point 28 (values
        // printed by Pillow 13's Image.new("RGB", (1, 1), colour).convert("L")).
        XCTAssertEqual(Image.luma(255, 0, 0), 76)
        XCTAssertEqual(Image.luma(0, 255, 0), 150)
        XCTAssertEqual(Image.luma(0, 0, 255), 29)
        XCTAssertEqual(Image.luma(255, 255, 255), 255)
        XCTAssertEqual(Image.luma(100, 150, 200), 141)
        XCTAssertEqual(Image.luma(0, 0, 250), 28)
        XCTAssertEqual(Image.luma(0, 4, 168), 21)
        XCTAssertEqual(Image.luma(0, 8, 86), 14)
    }

    func testGrayToColourRepeatsAndAlphaIsDroppedNotComposited() {
        let grayAlpha = Image(height: 1, width: 2, channels: 2, pixels: [10, 0, 200, 128])
        XCTAssertEqual(grayAlpha.converted(toChannels: 3).pixels, [10, 10, 10, 200, 200, 200])
        XCTAssertEqual(grayAlpha.converted(toChannels: 1).pixels, [10, 200])
        XCTAssertEqual(grayAlpha.converted(toChannels: 4).pixels, [10, 10, 10, 0, 200, 200, 200, 128])
        let rgb = Image(height: 1, width: 1, channels: 3, pixels: [1, 2, 3])
        XCTAssertEqual(rgb.converted(toChannels: 4).pixels, [1, 2, 3, 255])
        XCTAssertEqual(rgb.converted(toChannels: 3), rgb)
    }
}
