import XCTest
@testable import EmberData

final class ImageTests: XCTestCase {
    func testPixelsAreHeightWidthChannelsOrder() {
        var image = Image(height: 2, width: 3, channels: 3)
        image[1, 2, 0] = 7
        XCTAssertEqual(image.pixels[(1 * 3 + 2) * 3], 7)
        XCTAssertEqual(image.pixels.count, 18)
    }
}
