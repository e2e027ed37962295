import Ember
import EmberIO
import EmberNN
import Foundation

/// The model half of a sentence-transformers model: token ids → sentence embeddings. A BERT
/// encoder, pooling of its last hidden states over the attended tokens, and optionally L2
/// normalization (the modules `Transformer`, `Pooling`, `Normalize` of `modules.json`).
/// `SentenceEmbedder` adds the tokenizer.
public final class SentenceEmbeddingModel: Module {
    public let transformer: BERTModel
    public let pooling: SentencePooling
    /// Whether embeddings are scaled to unit length (a `Normalize` module).
    public let normalizes: Bool
    /// Where inputs are truncated, special tokens included (`max_seq_length`).
    public let maxSequenceLength: Int
    /// Whether text is lowercased before tokenization (`do_lower_case`).
    public let lowercases: Bool
    /// The folder holding the transformer's config, weights and tokenizer files, when loaded.
    public let transformerFolder: URL?

    /// A model around `transformer`, in the transformer's mode.
    public init(transformer: BERTModel, pooling: SentencePooling = SentencePooling(.mean), normalizes: Bool = false,
                maxSequenceLength: Int? = nil, lowercases: Bool = false, transformerFolder: URL? = nil) {
        let limit = transformer.config.maxPositionEmbeddings
        precondition(maxSequenceLength.map { (1...limit).contains($0) } ?? true,
                     "SentenceEmbeddingModel: maxSequenceLength must be in 1...\(limit) (max_position_embeddings), got \(maxSequenceLength!)")
        self.transformer = transformer
        self.pooling = pooling
        self.normalizes = normalizes
        self.maxSequenceLength = maxSequenceLength ?? limit
        self.lowercases = lowercases
        self.transformerFolder = transformerFolder
        super.init()
        // The model takes the transformer's mode (a pretrained one is in evaluation mode).
        train(transformer.isTraining)
    }

    /// The size of an embedding.
    public var dimension: Int { pooling.modes.count * transformer.config.hiddenSize }

    /// Embeddings [batch, dimension] of `inputIDs` [batch, length] with their `attentionMask`
    /// (1 for tokens, 0 for padding) and optional token types.
    public func callAsFunction(inputIDs: Tensor, attentionMask: Tensor, tokenTypeIDs: Tensor? = nil) -> Tensor {
        recordingCall {
            let hidden = transformer(inputIDs: inputIDs, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs).lastHiddenState
            let pooled = pooling(hidden, attentionMask: attentionMask)
            return normalizes ? pooled.l2Normalized() : pooled
        }
    }

    /// Embeddings for inference, as `callAsFunction` computes them (to float rounding), through
    /// `compile`: the forward pass is traced once per input shape and replayed with its
    /// elementwise chains fused (bias and activation, bias, residual and layer norm: one pass
    /// over memory each) and its intermediate buffers reused. Records no gradients. The model
    /// must be in evaluation mode (the trace would keep dropout otherwise). Token types are 0,
    /// as for single sentences.
    public func inference(inputIDs: Tensor, attentionMask: Tensor) -> Tensor {
        precondition(!isTraining, "SentenceEmbeddingModel.inference: the model is in training mode; call eval() first")
        return noGrad { compiledForward([inputIDs, attentionMask])[0] }
    }

    /// Weights are read by reference (no constant folding): loading new ones needs no retrace,
    /// and no folded copy of them is kept per input shape.
    private lazy var compiledForward = compile { [unowned self] inputs in
        [self(inputIDs: inputs[0], attentionMask: inputs[1])]
    }

    /// Loads a sentence-transformers folder: `modules.json` lists a `Transformer` (a BERT
    /// model folder, usually the folder itself, with `sentence_bert_config.json`), a `Pooling`
    /// (its `config.json`) and optionally a `Normalize`. Weights are cast to `dtype`; the
    /// model is returned in evaluation mode. Other modules (`Dense`, ...) are refused by name.
    public convenience init(pretrained url: URL, dtype: DType = .float32) throws {
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
        let hiddenSize = try transformerFolder.config(BERTConfig.self).hiddenSize
        if let dimension = poolingDimension.embeddingDimension ?? poolingDimension.wordEmbeddingDimension, dimension != hiddenSize {
            throw FileError(.huggingFaceModel, path: folder.file(poolingFile).path, problem: "pools embeddings of dimension \(dimension), but the transformer's hidden_size is \(hiddenSize)")
        }
        let transformer = try BERTModel(pretrained: transformerFolder.url, addPoolingLayer: false, dtype: dtype)
        // sentence-transformers caps the length at the model's positions, as does this.
        let limit = transformer.config.maxPositionEmbeddings
        if let length = settings.maxSeqLength, length <= 0 {
            throw FileError(.huggingFaceModel, path: transformerFolder.file("sentence_bert_config.json").path, problem: "max_seq_length must be positive, found \(length)")
        }
        self.init(transformer: transformer, pooling: pooling, normalizes: kinds.count > 2,
                  maxSequenceLength: min(settings.maxSeqLength ?? limit, limit), lowercases: settings.doLowerCase ?? false,
                  transformerFolder: transformerFolder.url)
        eval()
    }
}
