import EmberRuns
@testable import EmberServe
import Foundation
import XCTest

/// What the server does around inference: dynamic batching, loading new versions without a
/// restart, and the safety gate (token, body limit, deadline, repository boundary).
final class ServerPolicyTests: XCTestCase {
    private var repository: URL!

    override func setUp() async throws {
        repository = try temporaryDirectory()
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("tabular/1"))
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(at: repository)
    }

    private func configuration(_ edit: (inout ServeConfiguration) -> Void = { _ in }) -> ServeConfiguration {
        var configuration = ServeConfiguration(modelDirectory: repository)
        edit(&configuration)
        return configuration
    }

    /// A metric's value in the exposition text, or nil.
    private func metric(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    func testConcurrentRequestsBecomeOneForward() async throws {
        // A long queue delay and a batch of exactly the requests: all of them wait for one forward.
        let server = try await RunningServer(configuration { $0.batching = BatchingPolicy(maxBatchSize: 8, maxQueueDelay: .seconds(5)) })
        let expected = try Predictor(run: repository.appendingPathComponent("tabular/1")).classify(rows: (0..<8).map { [Float($0), 1, 2] })
        let labels = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<8 {
                group.addTask {
                    let answer = try await server.post("/v1/models/tabular:predict", ["instances": [[index, 1, 2]]])
                    return (index, ((answer.json as? [String: Any])?["predictions"] as? [[String: Any]])?.first?["label"] as? String)
                }
            }
            var labels = [String?](repeating: nil, count: 8)
            for try await (index, label) in group { labels[index] = label }
            return labels
        }
        XCTAssertEqual(labels, expected.map(\.label))
        let metrics = try await server.get("/metrics").text
        XCTAssertEqual(metric(metrics, #"ember_serve_batch_size_examples_count{model="tabular"}"#), 1, metrics)
        XCTAssertEqual(metric(metrics, #"ember_serve_batch_size_examples_sum{model="tabular"}"#), 8, metrics)
        await server.stop()
    }

    func testNewVersionsLoadAndRemovedModelsUnloadWithoutARestart() async throws {
        let server = try await RunningServer(configuration { $0.pollInterval = .milliseconds(50) })
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("tabular/2"), seed: 5)
        try TestRuns.write(TestRuns.text, to: repository.appendingPathComponent("sentiment/3"))
        var states: [String: String] = [:]
        for _ in 0..<200 where states["2"] != "AVAILABLE" {
            try await Task.sleep(for: .milliseconds(50))
            let versions = ((try await server.get("/v1/models/tabular")).json as? [String: Any])?["model_version_status"] as? [[String: Any]] ?? []
            states = Dictionary(uniqueKeysWithValues: versions.map { ($0["version"] as! String, $0["state"] as! String) })
        }
        XCTAssertEqual(states, ["2": "AVAILABLE", "1": "END"])
        let answer = try await server.post("/v2/models/tabular/infer", ["inputs": [["name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]]]])
        XCTAssertEqual((answer.json as? [String: Any])?["model_version"] as? String, "2")
        try await server.expect("/v2/models/sentiment/ready", status: 200)

        try FileManager.default.removeItem(at: repository.appendingPathComponent("sentiment"))
        var status = 200
        for _ in 0..<200 where status != 404 {
            try await Task.sleep(for: .milliseconds(50))
            status = try await server.get("/v2/models/sentiment/ready").status
        }
        XCTAssertEqual(status, 404)
        await server.stop()
    }

    func testPinnedVersionAndBrokenVersionsAreReported() async throws {
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("tabular/2"), seed: 5)
        // A version whose model.json is broken is reported, not served; a link out of the repository is not followed.
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("broken/1"))
        try Data("{\"model\": \"linear\"}".utf8).write(to: repository.appendingPathComponent("broken/1/model.json"))
        let outside = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: outside) }
        try TestRuns.write(TestRuns.features, to: outside.appendingPathComponent("run"))
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("escape"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: repository.appendingPathComponent("escape/1"), withDestinationURL: outside.appendingPathComponent("run"))

        let server = try await RunningServer(configuration { $0.pinnedVersions = ["tabular": 1] })
        let metadata = try await server.get("/v2/models/tabular")
        XCTAssertEqual((metadata.json as? [String: Any])?["versions"] as? [String], ["1"])
        let broken = try await server.get("/v1/models/broken")
        let status = ((broken.json as? [String: Any])?["model_version_status"] as? [[String: Any]])?.first
        XCTAssertEqual(status?["state"] as? String, "END")
        let message = (status?["status"] as? [String: Any])?["error_message"] as? String ?? ""
        XCTAssertTrue(message.contains("model.json"), message)
        try await server.expect("/v2/models/broken/ready", status: 503)
        try await server.expect("/v2/health/ready", status: 503)
        try await server.expect("/v2/models/escape", status: 404)
        await server.stop()
    }

    func testBearerTokenBodyLimitAndTimeout() async throws {
        let server = try await RunningServer(configuration {
            $0.bearerToken = "s3cret"
            $0.maxBodyBytes = 1000
            $0.requestTimeout = .milliseconds(300)
            // Requests wait far longer for a batch than the deadline allows.
            $0.batching = BatchingPolicy(maxBatchSize: 64, maxQueueDelay: .seconds(10))
        })
        let authorized = ["Authorization": "Bearer s3cret"]
        try await server.expect("/v2/models/tabular", status: 401)
        try await server.expect("/v2/models/tabular", headers: ["Authorization": "Bearer s3cre"], status: 401)
        try await server.expect("/v2/models/tabular", headers: authorized, status: 200)
        try await server.expect("/v2/health/live", status: 200)

        let large = try await server.post("/v1/models/tabular:predict", ["instances": Array(repeating: [1, 2, 3], count: 200)], headers: authorized)
        XCTAssertEqual(large.status, 413, large.text)
        let started = ContinuousClock.now
        let late = try await server.post("/v1/models/tabular:predict", ["instances": [[1, 2, 3]]], headers: authorized)
        XCTAssertEqual(late.status, 504, late.text)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        await server.stop()
    }
}

/// A model whose forward fails when its batch holds the text "bad", as a graph fails on a
/// shape it cannot take.
private final class RefusingServable: Servable, @unchecked Sendable {
    let signature = Signature(inputs: [TensorSpec(name: "text", datatype: .bytes, shape: [-1])],
                              outputs: [TensorSpec(name: "label", datatype: .bytes, shape: [-1])], classifies: false)
    let classNames: [String] = []
    let inputKind = InputKind.text
    func prepare(_ example: ExampleInput) throws -> PreparedExample {
        guard case .text(let text) = example else { throw RequestError(.badRequest, "texts only") }
        return .text(text)
    }
    func forward(_ batch: [PreparedExample]) throws -> [ExampleOutput] {
        try batch.map { example in
            guard case .text(let text) = example, text != "bad" else { throw RequestError(.badRequest, "refused") }
            return ["label": .string(text.uppercased())]
        }
    }
}

final class DynamicBatcherTests: XCTestCase {
    /// A batch that fails is run again request by request: only the bad request fails.
    func testAFailedBatchFailsOnlyTheRequestThatBrokeIt() async throws {
        let batcher = DynamicBatcher(model: RefusingServable(), policy: BatchingPolicy(maxBatchSize: 3, maxQueueDelay: .seconds(5)))
        let answers = await withTaskGroup(of: (String, String).self) { group in
            for text in ["good", "bad", "fine"] {
                group.addTask {
                    do {
                        let outputs = try await batcher.submit([.text(text)])
                        return (text, outputs.first?["label"] == .string(text.uppercased()) ? "answered" : "wrong answer")
                    } catch {
                        return (text, "\(error)")
                    }
                }
            }
            var answers: [String: String] = [:]
            for await (text, answer) in group { answers[text] = answer }
            return answers
        }
        XCTAssertEqual(answers, ["good": "answered", "bad": "refused", "fine": "answered"])
    }
}
