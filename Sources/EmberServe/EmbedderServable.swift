import Ember
import EmberModels
import Foundation

/// A Hugging Face sentence-transformers folder (modules.json, the transformer, pooling):
/// texts in, the output `embedding` out, as `ember embed` computes it.
final class EmbedderServable: Servable, @unchecked Sendable {
    let embedder: SentenceEmbedder
    let signature: Signature
    let inputKind = InputKind.text
    let classNames: [String] = []

    init(folder: URL) throws {
        embedder = try SentenceEmbedder(pretrained: folder)
        signature = Signature(inputs: [TensorSpec(name: "text", datatype: .bytes, shape: [-1])],
                              outputs: [TensorSpec(name: "embedding", datatype: .fp32, shape: [-1, embedder.dimension])],
                              classifies: false)
    }

    func prepare(_ example: ExampleInput) throws -> PreparedExample {
        guard case .text(let text) = example else { throw RequestError(.badRequest, "the model embeds texts") }
        return .text(text)
    }

    func forward(_ batch: [PreparedExample]) -> [ExampleOutput] {
        let texts = batch.map { example -> String in
            guard case .text(let text) = example else { preconditionFailure("an embedder's examples are texts") }
            return text
        }
        let embeddings = noGrad { embedder.embed(texts, batchSize: max(texts.count, 1)).cast(to: .float32) }
        return (0..<texts.count).map { ["embedding": .floats(embeddings[$0].floats)] }
    }

    /// Whether `folder` holds a sentence-transformers model rather than a run.
    static func recognizes(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("modules.json").path)
    }
}
