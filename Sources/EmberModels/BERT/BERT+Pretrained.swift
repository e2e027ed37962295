import Ember
import EmberIO
import EmberNN
import Foundation

extension BERTModel {
    /// How BERT checkpoints map onto `BERTModel`: weights under `bert.` (a checkpoint of a
    /// model with a head) load without the prefix; the pre-training heads (`cls.`), the id
    /// buffers older checkpoints hold, and a pooler the model lacks are skipped. Any other
    /// tensor (a fine-tuned `classifier.`) is unexpected: add it to `ignored` to drop it.
    public static func keyRules(addPoolingLayer: Bool) -> PretrainedKeyRules {
        PretrainedKeyRules(basePrefix: "bert",
                           ignored: ["cls.", "embeddings.position_ids", "embeddings.token_type_ids"]
                               + (addPoolingLayer ? [] : ["pooler."]))
    }

    /// Loads a Hugging Face BERT folder (`config.json` and `model.safetensors` or a sharded
    /// checkpoint), of a `BertModel` or of a model with a head (`BertForMaskedLM`, ...) whose
    /// encoder is taken. Without `addPoolingLayer`, the model has a pooler when the checkpoint
    /// does. Weights are cast to `dtype`. The model is returned in evaluation mode.
    public convenience init(pretrained url: URL, addPoolingLayer: Bool? = nil, dtype: DType = .float32) throws {
        let folder = try PretrainedFolder(url)
        let config = try folder.config(BERTConfig.self)
        let weights = try folder.weights()
        let pooled = addPoolingLayer ?? (weights.contains("pooler.dense.weight") || weights.contains("bert.pooler.dense.weight"))
        self.init(config: config, addPoolingLayer: pooled, dtype: dtype, initialize: false)
        try loadPretrained(weights, rules: Self.keyRules(addPoolingLayer: pooled))
        eval()
    }
}

extension BERTForSequenceClassification {
    /// As `BERTModel.keyRules`, with the `bert.` prefix kept, and the classifier (and a pooler
    /// that a masked-LM checkpoint lacks) allowed to be new: fine-tuning starts from an encoder.
    public static let keyRules = PretrainedKeyRules(basePrefix: "bert",
                                                    ignored: ["cls.", "embeddings.position_ids", "embeddings.token_type_ids"],
                                                    newlyInitialized: ["classifier.", "bert.pooler."])

    /// Loads a Hugging Face BERT folder: a fine-tuned `BertForSequenceClassification`, or an
    /// encoder (`BertModel`, `BertForMaskedLM`, ...) under a new classification head
    /// initialized as Hugging Face does. `numLabels` overrides the config's. Weights are cast
    /// to `dtype`. The model is returned in evaluation mode; call `train()` to fine-tune.
    public convenience init(pretrained url: URL, numLabels: Int? = nil, dtype: DType = .float32) throws {
        let folder = try PretrainedFolder(url)
        var config = try folder.config(BERTConfig.self)
        if let numLabels {
            guard numLabels > 0 else { throw FileError(.huggingFaceModel, path: url.path, problem: "numLabels must be positive, got \(numLabels)") }
            config.numLabels = numLabels
        }
        let weights = try folder.weights()
        self.init(config: config, dtype: dtype, initialize: false)
        let report = try loadPretrained(weights, rules: Self.keyRules)
        if let pooler = bert.pooler, report.newlyInitialized.contains(where: { $0.hasPrefix("bert.pooler.") }) {
            BERTModel.initializeLikeHuggingFace(pooler, std: config.initializerRange)
        }
        eval()
    }
}

extension BERTModel {
    /// Writes `config.json` and `model.safetensors`: a folder `BertModel.from_pretrained` loads.
    public func savePretrained(to folder: URL) throws { try savePretrained(to: folder, config: config) }
}

extension BERTForSequenceClassification {
    /// Writes `config.json` and `model.safetensors`: a folder
    /// `BertForSequenceClassification.from_pretrained` loads.
    public func savePretrained(to folder: URL) throws { try savePretrained(to: folder, config: config) }
}
