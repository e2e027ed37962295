import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// The `ember serve` process: SIGTERM stops accepting, finishes the request in flight and
/// exits with status 0.
final class ServeProcessTests: XCTestCase {
    /// The `ember` executable built beside the tests.
    private func emberExecutable() throws -> URL {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("ember") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("no ember executable beside the tests (build with swift build --build-tests)")
        }
        return found
    }

    func testSIGTERMFinishesTheRequestInFlightAndExits() async throws {
        let repository = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: repository) }
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("tabular/1"))
        let process = Process()
        process.executableURL = try emberExecutable()
        // A request waits 1.5 s for its batch: long enough to be in flight when SIGTERM comes.
        process.arguments = ["serve", "--model-dir", repository.path, "--port", "0", "--max-queue-delay-ms", "1500", "--log-level", "warning"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { return XCTFail("ember serve exited before listening") }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        let port = try XCTUnwrap(text.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, text)

        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/models/tabular:predict")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"instances": [[1, 2, 3]]}"#.utf8)
        let inFlight = Task { try await URLSession.shared.data(for: request) }
        try await Task.sleep(for: .milliseconds(500))
        kill(process.processIdentifier, SIGTERM)
        let (data, response) = try await inFlight.value
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200, String(decoding: data, as: UTF8.self))
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        XCTAssertFalse(process.isRunning)
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(process.terminationReason, .exit)
    }
}
