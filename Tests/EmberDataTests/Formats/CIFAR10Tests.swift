import Foundation
import XCTest
@testable import EmberData

/// CIFAR-10 binary batches built record by record: a label byte, then red, green and blue planes.
final class CIFAR10Tests: XCTestCase {
    /// A record whose channel c at (y, x) holds (c * 100 + y + x + seed) % 256.
    private func record(label: UInt8, seed: Int) -> [UInt8] {
        [label] + (0..<3).flatMap { c in (0..<32).flatMap { y in (0..<32).map { x in UInt8((c * 100 + y + x + seed) % 256) } } }
    }

    private func writeBatches(in directory: URL, train: [[UInt8]] = [], test: [UInt8]? = nil) throws {
        for (i, batch) in train.enumerated() { try Data(batch).write(to: directory.appendingPathComponent("data_batch_\(i + 1).bin")) }
        if let test { try Data(test).write(to: directory.appendingPathComponent("test_batch.bin")) }
    }

    func testReadsRecordsAsHeightWidthChannelImages() throws {
        let directory = try temporaryDirectory(self)
        let batches = (0..<5).map { b in record(label: UInt8(b), seed: b) + record(label: 9, seed: 50 + b) }
        try writeBatches(in: directory, train: batches, test: record(label: 3, seed: 7))
        let train = try CIFAR10(directory: directory, split: .train)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.classNames, CIFAR10.defaultClassNames)
        XCTAssertEqual(train[4].label, 2)
        XCTAssertEqual(train[5].label, 9)
        let image = train[4].image
        XCTAssertEqual([image.height, image.width, image.channels], [32, 32, 3])
        // Record 4 is batch 3's first, seed 2: channel c at (y, x) is c * 100 + y + x + 2.
        XCTAssertEqual([image[0, 0, 0], image[0, 0, 1], image[0, 0, 2]], [2, 102, 202])
        XCTAssertEqual([image[31, 1, 0], image[31, 1, 2]], [34, 234])

        let test = try CIFAR10(directory: directory, split: .test)
        XCTAssertEqual(test.count, 1)
        XCTAssertEqual(test[0].label, 3)
        XCTAssertEqual(test[0].image[3, 4, 1], 114)
    }

    func testReadsClassNamesAndTheArchivesSubdirectory() throws {
        let root = try temporaryDirectory(self)
        let directory = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeBatches(in: directory, test: record(label: 0, seed: 0))
        let names = (0..<10).map { "class\($0)" }
        try Data((names.joined(separator: "\n") + "\n\n").utf8).write(to: directory.appendingPathComponent("batches.meta.txt"))
        XCTAssertEqual(try CIFAR10(directory: root, split: .test).classNames, names)

        try Data("a\nb\n".utf8).write(to: directory.appendingPathComponent("batches.meta.txt"))
        assertThrows(try CIFAR10(directory: root, split: .test), "batches.meta.txt", "expected 10 class names, one per line, found 2")
    }

    func testRejectsTruncatedRecordsBadLabelsAndMissingBatches() throws {
        let directory = try temporaryDirectory(self)
        assertThrows(try CIFAR10(directory: directory, split: .test), "missing CIFAR-10 file: looked for test_batch.bin", "cifar-10-batches-bin")

        try writeBatches(in: directory, test: record(label: 1, seed: 0) + record(label: 2, seed: 0).dropLast(1))
        assertThrows(try CIFAR10(directory: directory, split: .test), "test_batch.bin", "truncated record: 6145 bytes is not a multiple of the 3073-byte record", "the last record has 3072 bytes")

        try writeBatches(in: directory, test: record(label: 1, seed: 0) + record(label: 10, seed: 0))
        assertThrows(try CIFAR10(directory: directory, split: .test), "test_batch.bin", "record 1 has label 10; CIFAR-10 labels are 0-9")

        try writeBatches(in: directory, train: [record(label: 1, seed: 0)])
        assertThrows(try CIFAR10(directory: directory, split: .train), "missing CIFAR-10 file: looked for data_batch_2.bin")
    }
}
