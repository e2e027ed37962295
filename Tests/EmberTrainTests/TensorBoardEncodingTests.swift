import XCTest
import EmberIO
@testable import EmberTrain

/// Byte-exact encodings. The reference bytes were produced by TensorBoard's own protobuf
/// classes and record writer: `python scripts/check_tensorboard.py --reference-bytes`.
final class TensorBoardEncodingTests: XCTestCase {
    func testCRC32CMatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // 32 zero bytes and 32 0xFF bytes: RFC 3720 (iSCSI) appendix B.4 test vectors, long
        // enough to run the slicing-by-8 loop.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array(0..<32)), 0x46DD_794E)
    }

    func testMaskedCRC() {
        XCTAssertEqual(CRC32C.masked(0xE306_9283), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
    }

    func testVarints() {
        func encoded(_ value: UInt64) -> [UInt8] {
            var writer = ProtobufWriter()
            writer.varint(value)
            return writer.bytes
        }
        XCTAssertEqual(encoded(0), [0x00])
        XCTAssertEqual(encoded(1), [0x01])
        XCTAssertEqual(encoded(127), [0x7F])
        XCTAssertEqual(encoded(128), [0x80, 0x01])
        XCTAssertEqual(encoded(300), [0xAC, 0x02])
        XCTAssertEqual(encoded(UInt64.max), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    func testTFRecordFraming() {
        XCTAssertEqual(TFRecord.frame(Array("abc".utf8)),
                       [0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xB0, 0x99, 0x49, 0x0E,
                        0x61, 0x62, 0x63, 0x6E, 0x57, 0xF1, 0x21])
    }

    func testFileVersionEvent() {
        let event = Event(wallTime: 1_700_000_000.5, step: 0, payload: .fileVersion("brain.Event:2"))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x20, 0x40, 0xFC, 0x54, 0xD9, 0x41, 0x1A, 0x0D, 0x62, 0x72, 0x61,
                        0x69, 0x6E, 0x2E, 0x45, 0x76, 0x65, 0x6E, 0x74, 0x3A, 0x32])
    }

    func testScalarEvent() {
        let event = Event(wallTime: 1.25, step: 300, payload: .summary([SummaryValue(tag: "loss", content: .scalar(0.5))]))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF4, 0x3F, 0x10, 0xAC, 0x02, 0x2A, 0x0D,
                        0x0A, 0x0B, 0x0A, 0x04, 0x6C, 0x6F, 0x73, 0x73, 0x15, 0x00, 0x00, 0x00, 0x3F])
    }

    func testZeroScalarIsWrittenAndZeroStepLeftOut() {
        let event = Event(wallTime: 0.5, step: 0, payload: .summary([SummaryValue(tag: "z", content: .scalar(0))]))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, 0x2A, 0x0A, 0x0A, 0x08, 0x0A,
                        0x01, 0x7A, 0x15, 0x00, 0x00, 0x00, 0x00])
    }

    func testNegativeStepTakesTenVarintBytes() {
        let event = Event(wallTime: 2, step: -1, payload: .summary([SummaryValue(tag: "x", content: .scalar(-1.5))]))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x10, 0xFF, 0xFF, 0xFF, 0xFF,
                        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x78, 0x15,
                        0x00, 0x00, 0xC0, 0xBF])
    }

    func testHistogramEvent() {
        var histogram = Histogram([])
        histogram.min = -1
        histogram.max = 2
        histogram.num = 3
        histogram.sum = 1.5
        histogram.sumSquares = 5.25
        histogram.bucketLimits = [-0.9, 1e-12, 2.1]
        histogram.buckets = [1, 1, 1]
        let event = Event(wallTime: 3, step: 7, payload: .summary([SummaryValue(tag: "w", content: .histogram(histogram))]))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x40, 0x10, 0x07, 0x2A, 0x68, 0x0A,
                        0x66, 0x0A, 0x01, 0x77, 0x2A, 0x61, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0,
                        0xBF, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x19, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x08, 0x40, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
                        0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0x40, 0x32, 0x18, 0xCD, 0xCC, 0xCC,
                        0xCC, 0xCC, 0xCC, 0xEC, 0xBF, 0x11, 0xEA, 0x2D, 0x81, 0x99, 0x97, 0x71, 0x3D, 0xCD,
                        0xCC, 0xCC, 0xCC, 0xCC, 0xCC, 0x00, 0x40, 0x3A, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0xF0, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0xF0, 0x3F])
    }

    func testTextEvent() {
        let event = Event(wallTime: 4, step: 1, payload: .summary([SummaryValue(tag: "note", content: .text("hi"))]))
        XCTAssertEqual(event.encoded,
                       [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x40, 0x10, 0x01, 0x2A, 0x20, 0x0A,
                        0x1E, 0x0A, 0x04, 0x6E, 0x6F, 0x74, 0x65, 0x42, 0x0C, 0x08, 0x07, 0x12, 0x04, 0x12,
                        0x02, 0x08, 0x01, 0x42, 0x02, 0x68, 0x69, 0x4A, 0x08, 0x0A, 0x06, 0x0A, 0x04, 0x74,
                        0x65, 0x78, 0x74])
    }

    func testDefaultBucketLimitsMatchTensorFlow() {
        let limits = Histogram.defaultBucketLimits
        XCTAssertEqual(limits.count, 1551)
        XCTAssertEqual(limits[0], -Double.greatestFiniteMagnitude)
        XCTAssertEqual(limits[775], 0)
        XCTAssertEqual(limits[776], 1e-12)
        XCTAssertEqual(limits[876], 1.3780612339822385e-08)
        XCTAssertEqual(limits[1549], 9.920775621859783e+19)
        XCTAssertEqual(limits[1550], Double.greatestFiniteMagnitude)
        XCTAssertEqual(limits[774], -1e-12)
    }

    func testHistogramBucketsCollapseEmptyRuns() {
        // 0 lies in [0, 1e-12); the empty buckets on either side collapse to one each.
        let zero = Histogram([0])
        XCTAssertEqual(zero.bucketLimits, [0, 1e-12, .greatestFiniteMagnitude])
        XCTAssertEqual(zero.buckets, [0, 1, 0])

        // A value equal to a limit belongs to the bucket to its right (limit[i-1] <= v < limit[i]).
        let limits = Histogram.defaultBucketLimits
        let onLimit = Histogram([limits[876]])
        XCTAssertEqual(onLimit.bucketLimits, [limits[876], limits[877], .greatestFiniteMagnitude])
        XCTAssertEqual(onLimit.buckets, [0, 1, 0])
    }

    func testHistogramStatisticsSkipNonFiniteValues() {
        let histogram = Histogram([-2, 1, 3, .nan, .infinity])
        XCTAssertEqual(histogram.num, 3)
        XCTAssertEqual(histogram.min, -2)
        XCTAssertEqual(histogram.max, 3)
        XCTAssertEqual(histogram.sum, 2)
        XCTAssertEqual(histogram.sumSquares, 14)
        XCTAssertEqual(histogram.buckets.reduce(0, +), 3)
        XCTAssertEqual(histogram.bucketLimits.count, histogram.buckets.count)

        let largest = Histogram([.greatestFiniteMagnitude])
        XCTAssertEqual(largest.bucketLimits.last, .greatestFiniteMagnitude)
        XCTAssertEqual(largest.buckets.last, 1)
    }
}
