import EmberIO
import Foundation

/// What a sentence-transformers folder says, read and checked before any weight is loaded:
/// `modules.json` lists a `Transformer` (a BERT model folder, usually the folder itself, with
/// `sentence_bert_config.json`), a `Pooling` (its `config.json`) and optionally a `Normalize`.
/// Other modules (`Dense`, ...) are refused by name.
public struct SentenceTransformersFolder {
    public let url: URL
    /// The folder holding the transformer's config, weights and tokenizer files.
    public let transformerFolder: URL
    /// The transformer's `config.json`.
    public let config: BERTConfig
    public let pooling: SentencePooling
    /// Whether embeddings are scaled to unit length (a `Normalize` module).
    public let normalizes: Bool
    /// `max_seq_length`, when set (positive).
    public let maxSequenceLength: Int?
    /// `do_lower_case`.
    public let lowercases: Bool

    public init(_ url: URL) throws {
        let folder = try PretrainedFolder(url)
        struct ModuleEntry: Decodable {
            let idx: Int?
            let path: String
            let type: String
        }
        guard folder.contains("modules.json") else {
            throw FileError(.huggingFaceModel, path: url.path, problem: "not a sentence-transformers folder: expected modules.json (listing the Transformer, Pooling and Normalize modules)")
        }
        let entries = try folder.decode([ModuleEntry].self, from: "modules.json").enumerated()
            .sorted { ($0.element.idx ?? $0.offset, $0.offset) < ($1.element.idx ?? $1.offset, $1.offset) }.map(\.element)
        let kinds = entries.map { String($0.type.split(separator: ".").last ?? "") }
        let source = folder.file("modules.json").path
        for (entry, kind) in zip(entries, kinds) where !["Transformer", "Pooling", "Normalize"].contains(kind) {
            throw FileError(.huggingFaceModel, path: source, problem: "the module \(entry.type) (at \"\(entry.path)\") is not supported; Ember runs Transformer, Pooling and Normalize modules")
        }
        guard kinds.count >= 2, kinds[0] == "Transformer", kinds[1] == "Pooling",
              kinds.dropFirst(2).allSatisfy({ $0 == "Normalize" }) else {
            throw FileError(.huggingFaceModel, path: source, problem: "expected the modules Transformer, Pooling and optionally Normalize, in that order, found \(kinds.joined(separator: ", "))")
        }
        let transformerFolder = try PretrainedFolder(folder.file(entries[0].path))
        let poolingFile = entries[1].path + "/config.json"
        let pooling = try folder.decode(SentencePooling.self, from: poolingFile)
        struct PoolingDimension: Decodable {
            let embeddingDimension: Int?
            let wordEmbeddingDimension: Int?
            enum CodingKeys: String, CodingKey {
                case embeddingDimension = "embedding_dimension", wordEmbeddingDimension = "word_embedding_dimension"
            }
        }
        let poolingDimension = try folder.decode(PoolingDimension.self, from: poolingFile)

        struct TransformerSettings: Decodable {
            let maxSeqLength: Int?
            let doLowerCase: Bool?
            enum CodingKeys: String, CodingKey { case maxSeqLength = "max_seq_length", doLowerCase = "do_lower_case" }
        }
        let settings = transformerFolder.contains("sentence_bert_config.json")
            ? try transformerFolder.decode(TransformerSettings.self, from: "sentence_bert_config.json")
            : TransformerSettings(maxSeqLength: nil, doLowerCase: nil)
        let config = try transformerFolder.config(BERTConfig.self)
        let hiddenSize = config.hiddenSize
        if let dimension = poolingDimension.embeddingDimension ?? poolingDimension.wordEmbeddingDimension, dimension != hiddenSize {
            throw FileError(.huggingFaceModel, path: folder.file(poolingFile).path, problem: "pools embeddings of dimension \(dimension), but the transformer's hidden_size is \(hiddenSize)")
        }
        if let length = settings.maxSeqLength, length <= 0 {
            throw FileError(.huggingFaceModel, path: transformerFolder.file("sentence_bert_config.json").path, problem: "max_seq_length must be positive, found \(length)")
        }
        self.url = url
        self.transformerFolder = transformerFolder.url
        self.config = config
        self.pooling = pooling
        self.normalizes = kinds.count > 2
        self.maxSequenceLength = settings.maxSeqLength
        self.lowercases = settings.doLowerCase ?? false
    }
}
