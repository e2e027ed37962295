import Foundation
import XCTest
@testable import EmberCLI

/// `ember train --nproc`: its option errors, and two ranks started through mpirun by the
/// built `ember` (skipped, with the reason, without mpirun).
final class TrainDistributedTests: XCTestCase {
    func testBadDistributedOptionsAreOneLineErrors() {
        XCTAssertEqual(message(Train.self, ["--nproc", "0"]), "--nproc must be at least 1, got 0")
        XCTAssertEqual(message(Train.self, ["--hosts", "a,b"]), "--hosts needs --nproc (the number of processes in all)")
        XCTAssertEqual(message(Train.self, ["--nproc", "2", "--hosts", "a,b:0"]),
                       "--hosts 'a,b:0': 'b:0' is not a host name with an optional positive slot count (name or name:slots)")
    }

    func testTheRelaunchDropsOnlyTheLaunchOptions() {
        XCTAssertEqual(Train.removingOptions(["--nproc", "--hosts"], from: ["--nproc", "2", "--epochs", "3", "--hosts=a:2", "--out", "x"]),
                       ["--epochs", "3", "--out", "x"])
    }

    /// Two ranks train 2 epochs; the same run stopped after 1 epoch and resumed gives the
    /// same metrics, and only rank 0's files exist.
    func testTwoRanksTrainAndResumeExactly() throws {
        guard getenv("PATH").map({ String(cString: $0) })?.split(separator: ":").contains(where: {
            FileManager.default.isExecutableFile(atPath: "\($0)/mpirun")
        }) == true else { throw XCTSkip("mpirun is not installed (Debian: openmpi-bin; scripts/install-deps.sh installs it)") }
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("ember") }
        guard let ember = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("ember was not built beside the tests (\(candidates.map(\.path)))")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ember-nproc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let common = ["--nproc", "2", "--model", "mlp", "--train-size", "64", "--val-size", "15", "--batch-size", "16",
                      "--schedule", "none", "--workers", "0"]
        let whole = root.appendingPathComponent("whole").path, resumed = root.appendingPathComponent("resumed").path
        try run(ember, ["train", "--epochs", "2", "--out", whole] + common)
        let output = try run(ember, ["train", "--epochs", "1", "--out", resumed] + common)
        XCTAssert(output.contains("Data-parallel on 2 ranks: batch 16 per rank, global batch 32"), output)
        try run(ember, ["train", "--nproc", "2", "--resume", "--epochs", "2", "--out", resumed, "--workers", "0"])
        let expected = try String(contentsOfFile: whole + "/metrics.csv", encoding: .utf8)
        let got = try String(contentsOfFile: resumed + "/metrics.csv", encoding: .utf8)
        // All columns but the last, the epoch's seconds.
        func withoutTimes(_ csv: String) -> [String] { csv.split(separator: "\n").map { $0.split(separator: ",").dropLast().joined(separator: ",") } }
        XCTAssertEqual(withoutTimes(got), withoutTimes(expected))
        XCTAssertEqual(withoutTimes(expected).count, 3)
    }

    @discardableResult
    private func run(_ program: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "ember \(arguments.joined(separator: " ")) failed:\n\(output)")
        return output
    }
}
