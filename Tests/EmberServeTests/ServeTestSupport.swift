import Ember
import EmberNN
import EmberOptim
import EmberRuns
@testable import EmberServe
import EmberTrain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A fresh, empty directory for one test's files.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-serve-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Small run folders as `ember train` writes them: model.json, config.json and an untrained
/// (seeded) checkpoint, so that tests need no training.
enum TestRuns {
    /// A linear classifier of three standardized features into two classes.
    static let features = ModelCard(model: "linear", input: .features(names: ["a", "b", "c"], mean: [1, 2, 3], std: [2, 4, 0.5]),
                                    classNames: ["no", "yes"])
    /// A linear classifier of 1-channel 4x4 images into three classes.
    static let image = ModelCard(model: "linear", input: .image(channels: 1, height: 4, width: 4, mean: [0.5], std: [0.25]),
                                 classNames: ["circle", "square", "triangle"])
    /// An LSTM over UTF-8 bytes into two classes.
    static let text = ModelCard(model: "lstm", input: .tokens(tokenizer: nil, vocabularySize: 257, maxLength: 16, paddingID: 256),
                                classNames: ["negative", "positive"])

    static func write(_ card: ModelCard, to folder: URL, seed: UInt64 = 0) throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        var config = TrainConfig()
        config.model = card.model
        config.seed = seed
        switch card.input {
        case .features: (config.dataset, config.dataDir) = ("csv", "/nonexistent")
        case .image: config.dataset = "shapes"
        case .tokens: config.dataset = "reviews"
        }
        try config.write(to: folder.appendingPathComponent("config.json"))
        try card.write(to: folder)
        manualSeed(seed)
        let model = try ModelRegistry.make(card.model, input: card.input, classes: card.outputs)
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), loss: CrossEntropyLoss())
        try TrainingCheckpoint(trainer, model: card.model).write(to: folder.appendingPathComponent("checkpoints/best.ckpt"))
    }
}

/// A server on a free loopback port, for one test; stopped with `stop()`.
final class RunningServer: @unchecked Sendable {
    let server: InferenceServer
    let port: Int
    private let task: Task<Void, any Error>

    init(_ configuration: ServeConfiguration) async throws {
        var configuration = configuration
        configuration.port = 0
        let server = try InferenceServer(configuration)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        task = Task { try await server.run(handlingSignals: false) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServeError("the server did not start") }
        self.server = server
        self.port = port
    }

    func stop() async {
        await server.stop()
        if case .failure(let error) = await task.result { XCTFail("the server stopped with \(error)") }
    }

    /// Many connections at once, for concurrent requests (URLSession's default is 6 per host).
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    /// The status, and the body parsed as JSON (nil when it is not JSON).
    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws
        -> (status: Int, json: Any?, text: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await Self.session.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, try? JSONSerialization.jsonObject(with: data), String(decoding: data, as: UTF8.self))
    }

    /// A request whose answer may not be text: the status, the answer's headers and its bytes.
    func raw(_ method: String, _ path: String, body: Data, headers: [String: String]) async throws
        -> (status: Int, headers: [String: String], data: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await Self.session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)".lowercased()] = "\(value)" }
        return (http.statusCode, fields, data)
    }

    func post(_ path: String, _ json: Any, headers: [String: String] = [:]) async throws -> (status: Int, json: Any?, text: String) {
        try await request("POST", path, body: try JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> (status: Int, json: Any?, text: String) {
        try await request("GET", path, headers: headers)
    }

    /// Checks the status of a GET.
    func expect(_ path: String, headers: [String: String] = [:], status: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let answer = try await get(path, headers: headers)
        XCTAssertEqual(answer.status, status, "GET \(path): \(answer.text)", file: file, line: line)
    }
}
