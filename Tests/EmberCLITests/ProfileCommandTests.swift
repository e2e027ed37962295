import Foundation
import XCTest
@testable import EmberCLI

/// `ember profile` and `ember train --profile-steps`: what they write, and their refusals.
final class ProfileCommandTests: XCTestCase {
    func testProfileWritesATraceOfOneIteration() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trace = directory.appendingPathComponent("trace.json")
        XCTAssertNil(message(ProfileCommand.self, ["mlp", "--batch-size", "4", "--warmup", "0", "--group-by", "module", "--trace", trace.path]))
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any])
        let names = try XCTUnwrap(document["traceEvents"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        for range in ["iteration", "forward", "backward", "optimizer.step", "matmul"] {
            XCTAssertTrue(names.contains(range), "\(range) missing from \(Set(names))")
        }
        // A language model's batch: tokens, and a next token per position.
        XCTAssertNil(message(ProfileCommand.self, ["gpt", "--batch-size", "1", "--length", "8", "--warmup", "0"]))
    }

    func testProfileOptionsAreValidated() {
        XCTAssertEqual(message(ProfileCommand.self, ["mlp", "--batch-size", "0"]), "--batch-size must be positive, got 0")
        XCTAssertEqual(message(ProfileCommand.self, ["mlp", "--warmup", "-1"]), "--warmup must not be negative, got -1")
        XCTAssertEqual(message(ProfileCommand.self, ["mlp", "--group-by", "layer"]), "--group-by must be op, shape or module, got 'layer'")
        XCTAssertEqual(message(ProfileCommand.self, ["mlp", "--trace", "/nonexistent/t.json"]),
                       "--trace /nonexistent/t.json: the folder /nonexistent does not exist")
        XCTAssertEqual(message(ProfileCommand.self, ["nosuch"])?.hasPrefix("'nosuch' is neither a run directory nor a model"), true)
    }

    func testTrainProfilesTheChosenSteps() throws {
        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let arguments = ["--model", "linear", "--train-size", "64", "--val-size", "16", "--batch-size", "16", "--workers", "0",
                         "--out", out.path]
        XCTAssertNil(message(Train.self, arguments + ["--epochs", "1", "--profile-steps", "2-3"]))
        let tables = try String(contentsOf: out.appendingPathComponent("profile.txt"), encoding: .utf8)
        XCTAssertTrue(tables.contains("Grouped by module") && tables.contains("matmul"), tables)
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("trace.json"))) as? [String: Any]
        let names = (document?["traceEvents"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        XCTAssertEqual(names.filter { $0.hasPrefix("ProfilerStep#") }, ["ProfilerStep#2", "ProfilerStep#3"])

        XCTAssertEqual(message(Train.self, arguments + ["--epochs", "2", "--resume", "--profile-steps", "4"]),
                       "--profile-steps 4-4: the run resumes after step 4; profile steps after it")
        XCTAssertEqual(message(Train.self, arguments + ["--epochs", "2", "--resume", "--profile-steps", "9-12"]),
                       "--profile-steps 9-12: the run trains 8 steps (2 epochs of 4 batches)")
        XCTAssertEqual(message(Train.self, ["--profile-steps", "3-"]), "--profile-steps must be A-B with 1 <= A <= B, or one step N >= 1; got '3-'")
    }
}
