@testable import EmberServe
import Foundation
import XCTest

/// A Hugging Face sentence-transformers folder in the repository answers embeddings within
/// cosine 0.9999 of sentence-transformers' own (the reference EmberTests commits, from
/// Fixtures/bert). Uses all-MiniLM-L6-v2 ($EMBER_MINILM_DIR, else the cache that
/// scripts/fetch-minilm.sh fills); skipped with the reason when it is not there.
final class EmbedderServingTests: XCTestCase {
    private struct Reference: Decodable {
        let sentences: [String]
        let embeddings: [[Double]]
    }

    private func miniLMFolder() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let candidates = [environment["EMBER_MINILM_DIR"].map { URL(fileURLWithPath: $0) }, cache.appendingPathComponent("ember/all-MiniLM-L6-v2")]
        guard let folder = candidates.compactMap({ $0 }).first(where: {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("modules.json").path)
        }) else { throw XCTSkip("all-MiniLM-L6-v2 is not here: run scripts/fetch-minilm.sh") }
        return folder
    }

    /// `source`'s files at `destination`, hard-linked where the file system allows (the
    /// weights are 88 MB), else copied.
    private func mirror(_ source: URL, to destination: URL) throws {
        let files = FileManager.default
        try files.createDirectory(at: destination, withIntermediateDirectories: true)
        for name in try files.contentsOfDirectory(atPath: source.path) {
            let from = source.appendingPathComponent(name), to = destination.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            _ = files.fileExists(atPath: from.path, isDirectory: &isDirectory)
            if isDirectory.boolValue { try mirror(from, to: to) } else if (try? files.linkItem(at: from, to: to)) == nil { try files.copyItem(at: from, to: to) }
        }
    }

    private func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        return dot / (a.reduce(0) { $0 + $1 * $1 }.squareRoot() * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
    }

    func testSentenceEmbeddingsOverBothProtocols() async throws {
        let source = try miniLMFolder()
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../EmberTests/Fixtures/bert/minilm_reference.json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        let repository = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: repository) }
        try mirror(source, to: repository.appendingPathComponent("minilm/1"))
        let server = try await RunningServer(ServeConfiguration(modelDirectory: repository))

        let metadata = try await server.get("/v2/models/minilm")
        let outputs = (metadata.json as? [String: Any])?["outputs"] as? [[String: Any]]
        XCTAssertEqual(outputs?.first?["shape"] as? [Int], [-1, 384])

        let texts = Array(reference.sentences.prefix(3))
        let infer = try await server.post("/v2/models/minilm/infer", ["inputs": [["name": "text", "datatype": "BYTES", "shape": [3], "data": texts]]])
        XCTAssertEqual(infer.status, 200, infer.text)
        let tensor = ((infer.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first
        XCTAssertEqual(tensor?["shape"] as? [Int], [3, 384])
        let data = tensor?["data"] as? [Double] ?? []
        XCTAssertEqual(data.count, 3 * 384)
        for row in 0..<min(3, data.count / 384) {
            XCTAssertGreaterThan(cosine(Array(data[row * 384..<(row + 1) * 384]), reference.embeddings[row]), 0.9999, texts[row])
        }

        let predict = try await server.post("/v1/models/minilm:predict", ["instances": [texts[1]]])
        let vector = ((predict.json as? [String: Any])?["predictions"] as? [[Double]])?.first ?? []
        XCTAssertEqual(vector.count, 384)
        XCTAssertGreaterThan(cosine(vector, reference.embeddings[1]), 0.9999)
        let classify = try await server.post("/v1/models/minilm:classify", ["examples": [["text": "x"]]])
        XCTAssertEqual(classify.status, 400)
        XCTAssertTrue(classify.text.contains("not a classifier"), classify.text)
        await server.stop()
    }
}
