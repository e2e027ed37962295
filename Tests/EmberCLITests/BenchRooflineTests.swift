import XCTest
@testable import EmberCLI

/// `ember bench --roofline`: FLOPs counted per run against the peak, bytes against a copy's
/// bandwidth, and the flag refused where it reports nothing.
final class BenchRooflineTests: XCTestCase {
    func testComputeBoundFieldsCountTheMatrixProduct() throws {
        let workload = MatmulWorkload(id: "W1", size: 64)
        let fields = Roofline(peakGFLOPs: 100).fields(of: workload, medianSeconds: 1e-3, reps: 1) { $0.timedRun() }
        let flops = 2.0 * 64 * 64 * 64
        XCTAssertEqual(try XCTUnwrap(fields["gflop_per_run"] as? Double), flops / 1e9, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(fields["gflop_per_s"] as? Double), flops / 1e-3 / 1e9, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(fields["share_of_peak"] as? Double), flops / 1e-3 / 1e9 / 100, accuracy: 1e-9)
    }

    /// W8 moves x in and y out ([4096, 1024] float32 each) and reads w and b ([1024] each).
    func testMemoryBoundFieldsCountW8sBytes() throws {
        let fields = Roofline(peakGFLOPs: 100).fields(of: FusedElementwiseWorkload(compiled: true), medianSeconds: 0.01, reps: 1) { $0.timedRun() }
        let bytes = Double((2 * 4096 * 1024 + 2 * 1024) * 4)
        XCTAssertEqual(try XCTUnwrap(fields["gb_per_run"] as? Double), bytes / 1e9, accuracy: 1e-12)
        let bandwidth = try XCTUnwrap(fields["copy_gb_per_s"] as? Double)
        XCTAssertGreaterThan(bandwidth, 0)
        XCTAssertEqual(try XCTUnwrap(fields["share_of_bandwidth"] as? Double), bytes / 0.01 / 1e9 / bandwidth, accuracy: 1e-9)
        XCTAssertTrue(Roofline(peakGFLOPs: 100).fields(of: SmallOpWorkload(), medianSeconds: 1, reps: 1) { $0.timedRun() }.isEmpty)
    }

    func testRooflineIsRefusedWithOtherMeasurements() {
        for other in ["--peak", "--data-wait", "--tfrecord-lab"] {
            XCTAssertThrowsError(try Bench.parse(["--roofline", other]).run()) {
                XCTAssertTrue("\($0)".contains("--roofline") && "\($0)".contains(other), "\($0)")
            }
        }
    }
}
