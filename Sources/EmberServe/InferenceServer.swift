import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `ember serve`: TensorFlow Serving's REST API and the Open Inference Protocol (v2) over a
/// model repository, on Hummingbird. Every request passes the same gate: bearer token, body
/// limit (413), deadline (504); a refused request is `{"error": "..."}` naming the field.
public final class InferenceServer: Sendable {
    public let configuration: ServeConfiguration
    let repository: ModelRepository
    let metrics = ServeMetrics()
    let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)

    public init(_ configuration: ServeConfiguration, logger: Logger = Logger(label: "ember.serve")) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: configuration.modelDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServeError("--model-dir \(configuration.modelDirectory.path) is not a directory: give a model repository (NAME/VERSION/ folders)")
        }
        self.configuration = configuration
        self.logger = logger
        repository = ModelRepository(root: configuration.modelDirectory, pins: configuration.pinnedVersions,
                                     batching: configuration.batching, logger: logger, metrics: metrics)
    }

    /// Serves until SIGTERM or SIGINT or `stop()` (then stops accepting, finishes the requests
    /// in flight and returns), or until the task is cancelled. `onListening` gets the bound port.
    public func run(handlingSignals: Bool = true, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        await repository.poll()
        let poller = Task { [repository, configuration] in
            try? await Task.sleep(for: configuration.pollInterval)
            await repository.run(every: configuration.pollInterval)
        }
        defer { poller.cancel() }
        let logger = self.logger
        let application = Application(
            responder: Responder(server: self),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "ember"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("serving", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                await onListening(port)
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
                                                      logger: logger))
        self.group.withLock { $0 = group }
        try await group.run()
        logger.info("stopped")
    }

    /// Stops as SIGTERM does: no new connections, the requests in flight answered, then `run` returns.
    public func stop() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    private struct Responder: HTTPResponder {
        let server: InferenceServer

        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            await server.respond(to: request)
        }
    }

    /// One request through the gate, routed, answered and counted.
    func respond(to request: Request) async -> Response {
        let started = ContinuousClock.now
        let route = Route(request.uri.path)
        var modelName = ""
        if let name = route.model, await repository.modelNames.contains(name) { modelName = name }
        let response: Response
        do {
            try authorize(request, route)
            response = try await withDeadline(configuration.requestTimeout) { [self] in
                var request = request
                let binaryHeaderLength = request.headers.first { $0.name.canonicalName == BinaryTensorData.headerField }?.value
                return try await handle(route, method: request.method, body: request.method == .post ? try await body(of: &request) : [],
                                        binaryHeaderLength: binaryHeaderLength)
            }
        } catch let error as RequestError {
            response = Self.error(error)
        } catch is DeadlineExceeded {
            response = Self.error(RequestError(.gatewayTimeout, "no answer within the server's request timeout (\(configuration.requestTimeout))"))
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = Self.error(RequestError(.internalServerError, "the server failed to answer: \(error)"))
        }
        metrics.request(model: modelName, endpoint: route.endpoint, status: response.status.code, duration: ContinuousClock.now - started)
        return response
    }

    private func authorize(_ request: Request, _ route: Route) throws {
        guard let token = configuration.bearerToken, !route.isHealthCheck else { return }
        let given = request.headers[.authorization] ?? ""
        // Compared without stopping at the first difference.
        let expected = Array("Bearer \(token)".utf8), actual = Array(given.utf8)
        var difference = expected.count ^ actual.count
        for index in expected.indices { difference |= Int(expected[index] ^ (index < actual.count ? actual[index] : 0)) }
        guard difference == 0 else { throw RequestError(.unauthorized, "missing or wrong bearer token: send Authorization: Bearer TOKEN") }
    }

    /// The request's body, refused with 413 past the limit (before reading when the length is declared).
    private func body(of request: inout Request) async throws -> [UInt8] {
        let limit = configuration.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw RequestError(.contentTooLarge, "the body has \(declared) bytes; the server takes at most \(limit)")
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw RequestError(.contentTooLarge, "the body is larger than the server's limit of \(limit) bytes")
        }
    }

    // MARK: Answers

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = JSONValue.text(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ error: RequestError) -> Response {
        var response = json(["error": error.message], status: error.status)
        if error.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }
}

/// A server that cannot start: one line naming the option.
public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
