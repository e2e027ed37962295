import Ember
import EmberIO
import EmberNN
import EmberOptim
import Foundation
import XCTest
@testable import EmberTrain

final class TensorBoardWriterTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-tboard-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Splits an event file into its records, checking both CRCs of each.
    private func records(_ url: URL) throws -> [[UInt8]] {
        let bytes = [UInt8](try Data(contentsOf: url))
        func uint32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        var result = [[UInt8]](), position = 0
        while position < bytes.count {
            let lengthBytes = Array(bytes[position..<position + 8])
            let length = Int(lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            XCTAssertEqual(uint32(position + 8), CRC32C.masked(CRC32C.checksum(lengthBytes)))
            let data = Array(bytes[position + 12..<position + 12 + length])
            XCTAssertEqual(uint32(position + 12 + length), CRC32C.masked(CRC32C.checksum(data)))
            result.append(data)
            position += 16 + length
        }
        return result
    }

    func testFileNameAndFileVersionRecord() throws {
        let writer = try SummaryWriter(logDirectory: directory.appendingPathComponent("run1"))
        let name = writer.fileURL.lastPathComponent
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)
        XCTAssertEqual(parts.last.flatMap { Int($0) } != nil, true, name)
        XCTAssertEqual(String(parts[parts.count - 2]), String(getpid()), name)
        XCTAssertLessThan(abs(Double(parts[3])! - Date().timeIntervalSince1970), 60)

        let other = try SummaryWriter(logDirectory: directory.appendingPathComponent("run1"))
        XCTAssertNotEqual(writer.fileURL, other.fileURL)

        let stored = try records(writer.fileURL)
        XCTAssertEqual(stored.count, 1)
        // wall_time (fixed64, field 1) then file_version (field 3) "brain.Event:2".
        XCTAssertEqual(stored[0].first, 0x09)
        XCTAssertEqual(Array(stored[0].dropFirst(9)), [0x1A, 0x0D] + Array("brain.Event:2".utf8))
    }

    /// A writer for a resumed run starts with TensorBoard's purge marker: SessionLog START at
    /// the purge step, which hides what earlier files logged from that step on.
    func testPurgeStepWritesASessionStart() throws {
        let writer = try SummaryWriter(logDirectory: directory, purgeStep: 301)
        let stored = try records(writer.fileURL)
        XCTAssertEqual(stored.count, 2)
        // wall_time (field 1), step 301 (field 2, varint ad 02), session_log (field 7) {status START (field 1) = 1}.
        XCTAssertEqual(stored[1].first, 0x09)
        XCTAssertEqual(Array(stored[1].dropFirst(9)), [0x10, 0xAD, 0x02, 0x3A, 0x02, 0x08, 0x01])
    }

    /// A resumed fit marks the steps after its checkpoint as superseded, and logs epoch
    /// values on the same step axis as batch values, so the one purge covers both.
    func testAResumedFitSupersedesTheStepsAfterItsCheckpoint() throws {
        let data = blobs(count: 64, seed: 3)
        let batches = InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 16)
        func trainer() -> Trainer {
            let model = blobClassifier(seed: 1)
            return Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss(),
                           callbacks: [TensorBoardLogger(logDirectory: directory, batchInterval: 1, histograms: false)])
        }
        let first = trainer()
        try first.fit(batches, epochs: 1)
        let checkpoint = try TrainingCheckpoint(first)
        let second = trainer()
        try checkpoint.restore(into: second)
        try second.fit(batches, epochs: 2)
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
        XCTAssertEqual(files.count, 2)
        let resumed = try records(files[1])
        XCTAssertEqual(Array(resumed[1].dropFirst(9)), [0x10, 0x05, 0x3A, 0x02, 0x08, 0x01], "purge from step 5, after the checkpoint's 4")
        // epoch/loss of the first epoch sits at step 4, where that epoch ended.
        let epochLoss = try records(files[0]).first { Array($0).starts(with: [0x09]) && String(decoding: $0, as: UTF8.self).contains("epoch/loss") }
        XCTAssertEqual(epochLoss.map { Array($0[9..<11]) }, [0x10, 0x04])
    }

    func testRecordsReachTheFileOnFlushAndClose() throws {
        let writer = try SummaryWriter(logDirectory: directory, flushInterval: 3600)
        try writer.addScalar("loss", 0.5, step: 300, wallTime: 1.25)
        XCTAssertEqual(try records(writer.fileURL).count, 1, "buffered until flush")
        try writer.flush()
        let stored = try records(writer.fileURL)
        XCTAssertEqual(stored.count, 2)
        XCTAssertEqual(stored[1], Event(wallTime: 1.25, step: 300, payload: .summary([SummaryValue(tag: "loss", content: .scalar(0.5))])).encoded)

        try writer.addText("note", "hi", step: 1)
        try writer.close()
        try writer.close()
        XCTAssertEqual(try records(writer.fileURL).count, 3)
        XCTAssertThrowsError(try writer.addScalar("loss", 1, step: 2)) { error in
            XCTAssertTrue("\(error)".contains(writer.fileURL.path), "\(error)")
            XCTAssertTrue("\(error)".contains("closed"), "\(error)")
        }
    }

    func testPeriodicFlushWithoutCallingFlush() throws {
        let writer = try SummaryWriter(logDirectory: directory, flushInterval: 0.05)
        try writer.addScalar("loss", 1, step: 0)
        let deadline = Date().addingTimeInterval(5)
        while try records(writer.fileURL).count < 2 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertEqual(try records(writer.fileURL).count, 2)
    }

    func testDeinitClosesAndFlushes() throws {
        var writer: SummaryWriter? = try SummaryWriter(logDirectory: directory, flushInterval: 3600)
        let url = writer!.fileURL
        try writer!.addScalar("loss", 1, step: 0)
        writer = nil
        XCTAssertEqual(try records(url).count, 2)
    }

    func testUnwritableDirectoryNamesThePath() throws {
        // A directory cannot be created under a regular file, whoever runs the test.
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        let logs = file.appendingPathComponent("logs")
        XCTAssertThrowsError(try SummaryWriter(logDirectory: logs)) { error in
            XCTAssertEqual((error as? FileError)?.path, logs.path)
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"), "\(error)")
            XCTAssertTrue("\(error)".contains(logs.path), "\(error)")
        }
    }

    /// Reads what SummaryWriter wrote with TensorBoard's own EventAccumulator, through
    /// scripts/check_tensorboard.py, a resumed run's purge included.
    func testTensorBoardReadsTheEventFiles() throws {
        guard let python = ProcessInfo.processInfo.environment["EMBER_PYTHON"] else {
            throw XCTSkip("set EMBER_PYTHON to a python with tensorboard and numpy installed to read the event files with TensorBoard itself, e.g. EMBER_PYTHON=/path/to/venv/bin/python swift test --filter TensorBoardWriterTests")
        }
        let logs = directory.appendingPathComponent("logs")
        let writer = try SummaryWriter(logDirectory: logs)
        let losses = [2.302585, 1.5, 0.75, 0.333333333, 0.1]
        for (step, loss) in losses.enumerated() {
            try writer.addScalar("loss", loss, step: step)
            try writer.addScalar("val/accuracy", 0.1 * Double(step), step: step * 10)
        }
        let weights: [Double] = [-3.5, -0.25, 0, 0, 1e-13, 0.001, 0.5, 0.5, 2, 1e6, -1e-20]
        let gradients = (0..<1000).map { sin(Double($0)) * exp(Double($0 % 17) - 8) }
        let tensor = Tensor([[1.5, -2.25], [0.125, 7]] as [[Float]])
        try writer.addHistogram("weights", weights, step: 0)
        try writer.addHistogram("weights", gradients, step: 1)
        try writer.addHistogram("layer/tensor", tensor, step: 3)
        try writer.addText("notes", "**bold** text, unicode: é ✓", step: 2)
        try writer.close()
        // A run resumed after step 3: what the first file logged from step 4 on is superseded.
        // (A later second orders the files as TensorBoard reads them.)
        Thread.sleep(forTimeInterval: 1.1)
        let resumed = try SummaryWriter(logDirectory: logs, purgeStep: 4)
        try resumed.addScalar("loss", 0.05, step: 4)
        try resumed.addScalar("val/accuracy", 0.9, step: 4)
        try resumed.close()

        func entry(_ step: Int, _ values: [Double]) -> [String: Any] {
            ["step": step, "num": Double(values.count), "sum": values.reduce(0, +),
             "min": values.min()!, "max": values.max()!, "values": values]
        }
        let expected: [String: Any] = [
            "scalars": [
                "loss": losses.prefix(4).enumerated().map { [$0.offset, $0.element] } + [[4, 0.05]],
                "val/accuracy": [[0, 0.0], [4, 0.9]],
            ],
            "histograms": [
                "weights": [entry(0, weights), entry(1, gradients)],
                "layer/tensor": [entry(3, [1.5, -2.25, 0.125, 7])],
            ],
            "texts": ["notes": [[2, "**bold** text, unicode: é ✓"]]],
        ]
        let expectedURL = directory.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: expectedURL)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/check_tensorboard.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, logs.path, expectedURL.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("OK 2 file(s): 7 scalars, 3 histograms, 1 texts match"), output)
    }
}
