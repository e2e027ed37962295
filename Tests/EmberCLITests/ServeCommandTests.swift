import Foundation
import XCTest
@testable import EmberCLI

/// `ember serve`'s options are checked before the server starts: one line naming the option.
final class ServeCommandTests: XCTestCase {
    func testOptionsAreValidated() throws {
        let directory = try temporaryDirectory().path
        func failure(_ options: [String]) -> String? { message(Serve.self, ["--model-dir", directory] + options) }
        XCTAssertEqual(failure(["--port", "70000"]), "--port must be 0 to 65535, got 70000")
        XCTAssertEqual(failure(["--max-batch-size", "0"]), "--max-batch-size must be positive, got 0")
        XCTAssertEqual(failure(["--max-queue-delay-ms", "-1"]), "--max-queue-delay-ms must be 0 to 60000, got -1.0")
        XCTAssertEqual(failure(["--poll-seconds", "0"]), "--poll-seconds must be positive, got 0.0")
        XCTAssertEqual(failure(["--max-body-mb", "0"]), "--max-body-mb must be 1 to 4096, got 0")
        XCTAssertEqual(failure(["--timeout-seconds", "0"]), "--timeout-seconds must be above 0 and at most 86400, got 0.0")
        XCTAssertEqual(failure(["--pin", "model"]), "--pin takes NAME=VERSION (a whole number), got 'model'")
        XCTAssertEqual(failure(["--log-level", "loud"]),
                       "--log-level must be one of trace, debug, info, notice, warning, error, critical, got 'loud'")
        XCTAssertEqual(failure(["--token-file", directory + "/none"]), "--token-file \(directory)/none cannot be read")
        XCTAssertEqual(message(Serve.self, ["--model-dir", directory + "/none"]),
                       "--model-dir \(directory)/none is not a directory: give a model repository (NAME/VERSION/ folders)")
        let configuration = try Serve.parse(["--model-dir", directory, "--pin", "a=3", "--max-queue-delay-ms", "1.5"]).serveConfiguration()
        XCTAssertEqual(configuration.host, "127.0.0.1")
        XCTAssertEqual(configuration.port, 8501)
        XCTAssertEqual(configuration.pinnedVersions, ["a": 3])
        XCTAssertEqual(configuration.batching.maxQueueDelay, .microseconds(1500))
    }
}
