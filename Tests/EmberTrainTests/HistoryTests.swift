import XCTest
@testable import EmberTrain

final class HistoryTests: XCTestCase {
    func testSeriesStayAlignedWhenKeysAppearLater() {
        var history = History()
        history.record(epoch: 0, logs: ["loss": 2])
        history.record(epoch: 1, logs: ["loss": 1, "val_loss": 1.5])
        XCTAssertEqual(history.epochs, [0, 1])
        XCTAssertEqual(history["loss"], [2, 1])
        XCTAssertEqual(history["val_loss"]?.count, 2)
        XCTAssertTrue(history["val_loss"]![0].isNaN)
        XCTAssertEqual(history["val_loss"]![1], 1.5)
    }
}
