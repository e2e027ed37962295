import Ember
import EmberModels
@testable import EmberServe
import Foundation
import XCTest

/// A Hugging Face sentence-transformers folder in the repository answers embeddings, as
/// `SentenceEmbedder` computes them. Uses all-MiniLM-L6-v2 ($EMBER_MINILM_DIR, else the cache
/// that scripts/fetch-minilm.sh fills); skipped with the reason when it is not there.
final class EmbedderServingTests: XCTestCase {
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

    func testSentenceEmbeddingsOverBothProtocols() async throws {
        let source = try miniLMFolder()
        let repository = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: repository) }
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("minilm"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: repository.appendingPathComponent("minilm/1"))
        let server = try await RunningServer(ServeConfiguration(modelDirectory: repository))

        let texts = ["A man is eating food.", "A monkey is playing drums.", "Serving models over HTTP"]
        let expected = noGrad { try! SentenceEmbedder(pretrained: source).embed(texts) }
        let metadata = try await server.get("/v2/models/minilm")
        let outputs = (metadata.json as? [String: Any])?["outputs"] as? [[String: Any]]
        XCTAssertEqual(outputs?.first?["shape"] as? [Int], [-1, 384])

        let infer = try await server.post("/v2/models/minilm/infer", ["inputs": [["name": "text", "datatype": "BYTES", "shape": [3], "data": texts]]])
        XCTAssertEqual(infer.status, 200, infer.text)
        let tensor = ((infer.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first
        XCTAssertEqual(tensor?["shape"] as? [Int], [3, 384])
        let data = tensor?["data"] as? [Double] ?? []
        let reference = expected.floats
        XCTAssertEqual(data.count, reference.count)
        for (a, b) in zip(data, reference) { XCTAssertEqual(a, Double(b), accuracy: 1e-5) }

        let predict = try await server.post("/v1/models/minilm:predict", ["instances": [texts[1]]])
        let vector = ((predict.json as? [String: Any])?["predictions"] as? [[Double]])?.first ?? []
        XCTAssertEqual(vector.count, 384)
        for (a, b) in zip(vector, expected[1].floats) { XCTAssertEqual(a, Double(b), accuracy: 1e-5) }
        let classify = try await server.post("/v1/models/minilm:classify", ["examples": [["text": "x"]]])
        XCTAssertEqual(classify.status, 400)
        await server.stop()
    }
}
