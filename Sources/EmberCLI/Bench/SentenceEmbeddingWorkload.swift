import Ember
import EmberModels
import Foundation

/// W7: all-MiniLM-L6-v2 sentence embeddings (the real weights) for 32 sentences padded to
/// 128 tokens: BERT, mean pooling and L2 normalization, without the tape. The sentences are
/// tokenized once, outside the timing. Compiled, the forward is the embedder's `inference`.
/// Padding-free (the default of both) runs the encoder on the real tokens only; the padded
/// variants compute all 32 × 128 positions, as before padding-free inference.
final class SentenceEmbeddingWorkload: Workload {
    let compiled: Bool
    let paddingFree: Bool
    var impl: String { (compiled ? "ember-compiled" : "ember") + (paddingFree ? "" : "-padded") }
    var id: String { "W7" }
    var name: String { "bert-embed all-MiniLM-L6-v2, 32 x 128 tokens" + (compiled ? ", compiled" : "") + (paddingFree ? "" : ", padded") }
    var unit: String { "sentences/s" }
    /// The folder, from `ember bench --minilm` (which sets EMBER_MINILM_DIR), the environment,
    /// or the cache that scripts/fetch-minilm.sh fills.
    static var folder: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["EMBER_MINILM_DIR"]
            ?? (environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/ember/all-MiniLM-L6-v2"
    }
    /// The same sentences as the peers' (bench/peers.py).
    static let sentences = (0..<32).map { "Sentence number \($0) for the embedding benchmark." }
    /// Loaded when the workload is first asked about, not when the list of workloads is made.
    private lazy var loaded = Result { try SentenceEmbedder(pretrained: URL(fileURLWithPath: Self.folder)) }
    private var embedder: SentenceEmbedder? { try? loaded.get() }
    private var inputIDs: Tensor!
    private var attentionMask: Tensor!

    init(compiled: Bool, paddingFree: Bool = true) {
        self.compiled = compiled
        self.paddingFree = paddingFree
    }

    var unavailableReason: String? {
        guard case .failure(let error) = loaded else { return nil }
        return "all-MiniLM-L6-v2 could not be loaded from \(Self.folder) (run scripts/fetch-minilm.sh or pass --minilm DIR): \(error)"
    }

    func prepare() {
        let batch = embedder!.tokenize(Self.sentences, padding: .maxLength(128)).tensors()
        (inputIDs, attentionMask) = (batch.inputIDs, batch.attentionMask)
    }

    func timedRun() -> Double {
        let model = embedder!.model
        return noGrad {
            compiled ? elapsed { _ = model.inference(inputIDs: inputIDs, attentionMask: attentionMask, paddingFree: paddingFree) }
                : elapsed { _ = model(inputIDs: inputIDs, attentionMask: attentionMask, paddingFree: paddingFree) }
        }
    }

    func figure(seconds: Double) -> Double { Double(Self.sentences.count) / seconds }
}
