import Ember
import EmberNN
import EmberOptim
@testable import EmberTrain
import Foundation
import XCTest

/// `ember train --profile-steps`: the chosen steps, across an epoch boundary, as ranges
/// holding the training kernels attributed to module paths; trace and tables written.
final class ProfilerCallbackTests: XCTestCase {
    func testProfilesTheChosenStepsAcrossEpochs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = blobs(count: 32, seed: 1)
        let model = blobClassifier(seed: 2)
        // 4 batches an epoch: steps 3 to 6 straddle the first epoch's end.
        let callback = ProfilerCallback(steps: 3...6, traceURL: directory.appendingPathComponent("trace.json"),
                                        tableURL: directory.appendingPathComponent("profile.txt"), peakFLOPS: 1e11)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss(),
                              callbacks: [callback])
        let batches = InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 8)
        try trainer.fit(batches, epochs: 3, validation: batches)
        XCTAssertNil(Profiler.current, "recording stopped after step 6")

        let recorded = try XCTUnwrap(callback.recorded)
        // Reading each batch, then the step; validation after the first epoch's last step.
        let topLevel = recorded.events.filter { $0.parent == nil }.map(\.name)
        XCTAssertEqual(topLevel, ["data", "ProfilerStep#3", "data", "ProfilerStep#4", "data", "validation",
                                  "data", "ProfilerStep#5", "data", "ProfilerStep#6"])
        // Each step holds the forward (a matmul per Linear, in its module), backward and update.
        let paths = model.namedModules().map(\.0)
        let (first, last) = (paths[1], paths[4])
        // 4 training steps, and 4 validation batches, where nothing is recorded for a gradient
        // and each Linear is one fused matmul with its bias.
        XCTAssertEqual(recorded.kernels.filter { $0.name == "matmul" && $0.scope == first }.count, 4)
        XCTAssertEqual(recorded.kernels.filter { $0.name == "fused<matmul+add>" && $0.scope == first }.count, 4)
        XCTAssertTrue(Set(recorded.kernels.map(\.scope)).isSuperset(of: [first, last]))
        XCTAssertGreaterThan(recorded.kernels.filter { $0.scope.isEmpty }.count, 0, "backward and the optimizer run outside modules")

        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: callback.traceURL)) as? [String: Any]
        XCTAssertEqual((trace?["traceEvents"] as? [Any])?.count, recorded.events.count + 1)
        let tables = try String(contentsOf: directory.appendingPathComponent("profile.txt"), encoding: .utf8)
        XCTAssertTrue(tables.contains("Grouped by module") && tables.contains("% peak"), tables)
    }

    /// Training that ends before the last profiled step still writes what it recorded.
    func testTrainingThatEndsEarlyWritesWhatItRecorded() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-trace-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let data = blobs(count: 16, seed: 3)
        let model = blobClassifier(seed: 4)
        let callback = ProfilerCallback(steps: 1...100, traceURL: url)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss(),
                              callbacks: [callback])
        try trainer.fit(InMemoryBatches(inputs: data.x, targets: data.y, batchSize: 8), epochs: 1)
        XCTAssertEqual(callback.recorded?.events.filter { $0.parent == nil }.map(\.name),
                       ["data", "ProfilerStep#1", "data", "ProfilerStep#2", "data"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path))
        XCTAssertNil(Profiler.current)
    }
}
