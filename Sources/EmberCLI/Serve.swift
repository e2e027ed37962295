import ArgumentParser
import Dispatch
import EmberServe
import Foundation
import Logging

/// `ember serve`: a model repository over HTTP, with TensorFlow Serving's REST API and the
/// Open Inference Protocol (v2).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model repository over HTTP (TensorFlow Serving REST API and Open Inference Protocol v2).",
        discussion: """
        DIR holds NAME/VERSION/ folders (VERSION a whole number): ember train run folders, \
        sentence-transformers folders (modules.json), or folders holding model.onnx (served \
        with the graph's named, typed inputs and outputs). The latest version of each model is \
        served (or the one given with --pin NAME=VERSION); the repository is polled, so new \
        versions load without a restart. Endpoints: /v1/models/NAME[/versions/V][/metadata], \
        /v1/models/NAME:predict and :classify; /v2/health/live|ready, /v2/models/NAME[/ready], \
        /v2/models/NAME/infer; /metrics (Prometheus); /openapi.json. SIGTERM or SIGINT stops \
        accepting, finishes the requests in flight and exits.
        """)

    @Option(help: ArgumentHelp("The model repository: NAME/VERSION/ folders.", valueName: "dir")) var modelDir: String
    @Option(help: "The address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "The port (TF Serving's REST port is 8501; 0 picks a free one).") var port = 8501
    @Option(help: ArgumentHelp("Serve this version instead of the latest (repeatable).", valueName: "name=version")) var pin: [String] = []
    @Option(parsing: .unconditional, help: "Seconds between scans of the repository for new versions.") var pollSeconds = 2.0
    @Option(parsing: .unconditional, help: "Dynamic batching: the most examples in one forward.") var maxBatchSize = 32
    @Option(parsing: .unconditional, help: "Dynamic batching: the longest a request waits for others, in milliseconds.") var maxQueueDelayMs = 2.0
    @Option(parsing: .unconditional, help: "The largest request body, in MiB (larger: 413).") var maxBodyMb = 16
    @Option(parsing: .unconditional, help: "Seconds before a request is answered 504.") var timeoutSeconds = 30.0
    @Option(help: ArgumentHelp("A file holding a bearer token that every request but the health checks must send.", valueName: "file"))
    var tokenFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func run() throws {
        let configuration = try serveConfiguration()
        // Logs on standard error; standard output says where the server listens.
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "ember.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let server = try InferenceServer(configuration, logger: logger)
        // The command is synchronous; the server runs on Swift's concurrency pool until a
        // signal stops it.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        Task {
            do {
                try await server.run { port in
                    print("ember serve: listening on http://\(configuration.host):\(port)")
                    fflush(stdout)
                }
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw CommandError("the server stopped: \(failure)") }
    }

    /// The options, checked, as the server's configuration.
    func serveConfiguration() throws -> ServeConfiguration {
        guard (0...65535).contains(port) else { throw CommandError("--port must be 0 to 65535, got \(port)") }
        guard !host.isEmpty else { throw CommandError("--host must be an address, got ''") }
        guard pollSeconds > 0, pollSeconds.isFinite else { throw CommandError("--poll-seconds must be positive, got \(pollSeconds)") }
        guard maxBatchSize > 0 else { throw CommandError("--max-batch-size must be positive, got \(maxBatchSize)") }
        guard maxQueueDelayMs >= 0, maxQueueDelayMs <= 60_000 else {
            throw CommandError("--max-queue-delay-ms must be 0 to 60000, got \(maxQueueDelayMs)")
        }
        guard (1...4096).contains(maxBodyMb) else { throw CommandError("--max-body-mb must be 1 to 4096, got \(maxBodyMb)") }
        guard timeoutSeconds > 0, timeoutSeconds <= 86_400 else { throw CommandError("--timeout-seconds must be above 0 and at most 86400, got \(timeoutSeconds)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw CommandError("--log-level must be one of trace, debug, info, notice, warning, error, critical, got '\(logLevel)'")
        }
        var configuration = ServeConfiguration(modelDirectory: URL(fileURLWithPath: modelDir))
        configuration.host = host
        configuration.port = port
        configuration.pollInterval = .milliseconds(Int64(pollSeconds * 1000))
        configuration.batching = BatchingPolicy(maxBatchSize: maxBatchSize, maxQueueDelay: .microseconds(Int64(maxQueueDelayMs * 1000)))
        configuration.maxBodyBytes = maxBodyMb << 20
        configuration.requestTimeout = .milliseconds(Int64(timeoutSeconds * 1000))
        configuration.serverVersion = emberVersion
        for entry in pin {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let version = Int(parts[1]), version >= 0 else {
                throw CommandError("--pin takes NAME=VERSION (a whole number), got '\(entry)'")
            }
            configuration.pinnedVersions[parts[0]] = version
        }
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { throw CommandError("--token-file \(tokenFile) cannot be read") }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty, !token.contains(where: \.isWhitespace) else {
                throw CommandError("--token-file \(tokenFile) must hold one token without spaces")
            }
            configuration.bearerToken = token
        }
        return configuration
    }
}
