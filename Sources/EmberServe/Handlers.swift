import Foundation
import Hummingbird

/// Routing to the two protocols' handlers, and what they share: finding the model and
/// running examples through its batcher.
extension InferenceServer {
    /// `binaryHeaderLength`: the Inference-Header-Content-Length of a request in the binary
    /// tensor data extension, which only `infer` takes.
    func handle(_ route: Route, method: HTTPRequest.Method, body: [UInt8], binaryHeaderLength: String? = nil) async throws -> Response {
        guard route.kind != .notFound else { throw RequestError(.notFound, "no such endpoint; see /openapi.json") }
        let expected: HTTPRequest.Method = route.isPost ? .post : .get
        guard method == expected else {
            throw RequestError(.methodNotAllowed, "\(route.endpoint) is \(expected.rawValue), not \(method.rawValue)")
        }
        if let badVersion = route.badVersion { throw RequestError(.badRequest, "version '\(badVersion)' is not a whole number") }
        if binaryHeaderLength != nil && route.kind != .infer {
            throw RequestError(.badRequest, "Inference-Header-Content-Length: binary tensor data is for /v2/models/NAME/infer only")
        }
        switch route.kind {
        case .metrics:
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        case .openAPI: return Self.json(OpenAPIDocument.document)
        case .live: return Self.json(["live": true])
        case .ready:
            let ready = await repository.isReady
            return Self.json(["ready": ready], status: ready ? .ok : .serviceUnavailable)
        case .serverMetadata:
            return Self.json(ServerMetadata(name: "ember", version: configuration.serverVersion, extensions: ["binary_tensor_data"]))
        case .tfStatus: return try await tensorFlowStatus(route)
        case .tfMetadata: return try await tensorFlowMetadata(route)
        case .tfPredict: return try await tensorFlowPredict(route, body: body)
        case .tfClassify: return try await tensorFlowClassify(route, body: body)
        case .modelMetadata: return try await inferenceMetadata(route)
        case .modelReady: return try await inferenceReady(route)
        case .infer: return try await inferenceInfer(route, body: body, binaryHeaderLength: binaryHeaderLength)
        case .notFound: preconditionFailure()
        }
    }

    func model(_ route: Route) async throws -> LoadedModel {
        try await repository.model(route.model ?? "", version: route.version)
    }

    /// Examples prepared on this task (a bad one fails its own request, naming it), then
    /// answered by the model's batcher together with concurrent requests.
    func outputs(_ model: LoadedModel, _ examples: [ExampleInput], field: (Int) -> String) async throws -> [ExampleOutput] {
        guard !examples.isEmpty else { throw RequestError(.badRequest, "\(field(0).prefix { $0 != "[" }): holds no examples") }
        let prepared = try examples.enumerated().map { index, example in
            do {
                return try model.servable.prepare(example)
            } catch let error as RequestError {
                throw RequestError(error.status, "\(field(index)): \(error.message)")
            } catch {
                throw RequestError(.badRequest, "\(field(index)): \(error)")
            }
        }
        return try await model.batcher.submit(prepared)
    }
}

struct ServerMetadata: Encodable {
    let name: String
    let version: String
    let extensions: [String]
}
