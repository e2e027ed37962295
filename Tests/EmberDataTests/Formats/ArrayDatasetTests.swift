import Ember
import EmberIO
import Foundation
import XCTest
@testable import EmberData

final class ArrayDatasetTests: XCTestCase {
    private let features = Tensor((0..<12).map { Float($0) }, shape: [3, 2, 2])
    private let labels = Tensor([Int64(2), 0, 1])

    private func assertRows(_ data: ArrayDataset, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(data.count, 3, file: file, line: line)
        XCTAssertEqual(data[1].features.shape, [2, 2], file: file, line: line)
        XCTAssertEqual(data[1].features.doubles, [4, 5, 6, 7], file: file, line: line)
        XCTAssertEqual(data[2].label.shape, [], file: file, line: line)
        XCTAssertEqual(data[2].label.dtype, .int64, file: file, line: line)
        XCTAssertEqual(data[2].label.item(), 1, file: file, line: line)
    }

    func testRowsFromAnArchiveAndFromTwoArrayFiles() throws {
        let directory = try temporaryDirectory(self)
        let archive = directory.appendingPathComponent("data.npz")
        try NumPy.writeArchive(["x": features, "y": labels], compressed: true, to: archive)
        assertRows(try ArrayDataset(contentsOf: archive, features: "x", labels: "y"))
        assertThrows(try ArrayDataset(contentsOf: archive, features: "images", labels: "y"), "data.npz", "no array named \"images\"; the archive holds \"x\", \"y\"")

        let (x, y) = (directory.appendingPathComponent("x.npy"), directory.appendingPathComponent("y.npy"))
        try NumPy.write(features.transposed(1, 2).transposed(1, 2), to: x)
        try NumPy.write(labels, to: y)
        assertRows(try ArrayDataset(features: x, labels: y))
    }

    func testReadsConcurrently() throws {
        let data = try ArrayDataset(features: features, labels: labels)
        let sums = UnsafeMutableBufferPointer<Double>.allocate(capacity: 300)
        defer { sums.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 300) { sums[$0] = data[$0 % 3].features.doubles.reduce(0, +) }
        XCTAssertEqual(Set(sums), [6, 22, 38])
    }

    func testRejectsMismatchedCounts() {
        assertThrows(try ArrayDataset(features: features, labels: Tensor([Int64(1), 2]), source: "pair"), "pair", "3 feature rows (shape [3, 2, 2]) but 2 labels (shape [2])")
        assertThrows(try ArrayDataset(features: Tensor(Float(1)), labels: labels), "must both have a leading example axis")
    }
}
