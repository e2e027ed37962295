import Ember
import EmberIO
import Foundation

/// A BERT architecture as Hugging Face's `BertConfig` describes it, read from and written to
/// a model folder's `config.json` under the same keys (`hidden_size`, `num_hidden_layers`, ...).
/// Absent keys take `BertConfig`'s defaults (BERT-base). What Ember's BERT cannot run (relative
/// position embeddings, a decoder, another model type, an unknown activation) is refused when
/// the file is read, naming the key.
public struct BERTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    /// The feed-forward activation by its Hugging Face name (see `activation`).
    public var hiddenAct: String
    public var hiddenDropoutProb: Double
    public var attentionProbsDropoutProb: Double
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Double
    /// The padding token, whose embedding starts at zero and receives no gradient.
    public var padTokenID: Int?
    /// The standard deviation of the normal initialization of weights trained from scratch.
    public var initializerRange: Double
    /// Dropout before a classification head; nil means `hiddenDropoutProb`.
    public var classifierDropout: Double?
    /// The classes of a sequence-classification head (`num_labels`, or the size of `id2label`).
    public var numLabels: Int

    public init(vocabSize: Int = 30522, hiddenSize: Int = 768, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
                intermediateSize: Int = 3072, hiddenAct: String = "gelu", hiddenDropoutProb: Double = 0.1,
                attentionProbsDropoutProb: Double = 0.1, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Double = 1e-12, padTokenID: Int? = 0, initializerRange: Double = 0.02,
                classifierDropout: Double? = nil, numLabels: Int = 2) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.hiddenDropoutProb = hiddenDropoutProb
        self.attentionProbsDropoutProb = attentionProbsDropoutProb
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.padTokenID = padTokenID
        self.initializerRange = initializerRange
        self.classifierDropout = classifierDropout
        self.numLabels = numLabels
    }

    /// The feed-forward activation `hiddenAct` names.
    public var activation: BERTActivation {
        guard let activation = BERTActivation(huggingFaceName: hiddenAct) else {
            preconditionFailure("BERTConfig: unsupported hidden_act \"\(hiddenAct)\" (supported: \(BERTActivation.supportedNames))")
        }
        return activation
    }

    /// The size of one attention head.
    public var headSize: Int { hiddenSize / numAttentionHeads }

    /// The first problem that makes the configuration unusable, if any.
    var problem: (key: CodingKeys, message: String)? {
        let positive: [(CodingKeys, Int)] = [(.vocabSize, vocabSize), (.hiddenSize, hiddenSize),
                                             (.numHiddenLayers, numHiddenLayers), (.numAttentionHeads, numAttentionHeads),
                                             (.intermediateSize, intermediateSize),
                                             (.maxPositionEmbeddings, maxPositionEmbeddings),
                                             (.typeVocabSize, typeVocabSize), (.numLabels, numLabels)]
        for (key, value) in positive where value <= 0 { return (key, "must be positive, found \(value)") }
        if hiddenSize % numAttentionHeads != 0 {
            return (.hiddenSize, "\(hiddenSize) is not a multiple of num_attention_heads (\(numAttentionHeads))")
        }
        if BERTActivation(huggingFaceName: hiddenAct) == nil {
            return (.hiddenAct, "\"\(hiddenAct)\" is not supported (supported: \(BERTActivation.supportedNames))")
        }
        let probabilities: [(CodingKeys, Double?)] = [(.hiddenDropoutProb, hiddenDropoutProb),
                                                      (.attentionProbsDropoutProb, attentionProbsDropoutProb),
                                                      (.classifierDropout, classifierDropout)]
        for case let (key, value?) in probabilities where !(0...1).contains(value) {
            return (key, "must be a probability in [0, 1], found \(value)")
        }
        if !(layerNormEps > 0) { return (.layerNormEps, "must be positive, found \(layerNormEps)") }
        if let padTokenID, !(0..<vocabSize).contains(padTokenID) {
            return (.padTokenID, "must be a token id in 0..<\(vocabSize) (vocab_size), found \(padTokenID)")
        }
        // The float32 weights each size sets, against the memory there is.
        let weights: [(CodingKeys, Int, [Int])] = [
            (.vocabSize, vocabSize, [vocabSize, hiddenSize, 4]),
            (.maxPositionEmbeddings, maxPositionEmbeddings, [maxPositionEmbeddings, hiddenSize, 4]),
            (.typeVocabSize, typeVocabSize, [typeVocabSize, hiddenSize, 4]),
            (.intermediateSize, intermediateSize, [numHiddenLayers, 2, hiddenSize, intermediateSize, 4]),
            (.hiddenSize, hiddenSize, [numHiddenLayers, 4, hiddenSize, hiddenSize, 4]),
            (.numLabels, numLabels, [numLabels, hiddenSize, 4]),
        ]
        for (key, value, factors) in weights {
            if let problem = MemoryLimit.problem(bytes: MemoryLimit.bytes(factors)) { return (key, "\(value) is too large: its weights need \(problem)") }
        }
        if let problem = MemoryLimit.problem(bytes: MemoryLimit.sum(weights.map { MemoryLimit.bytes($0.2) })) {
            return (.hiddenSize, "the model is too large: its weights need \(problem)")
        }
        return nil
    }

    // MARK: config.json

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case hiddenDropoutProb = "hidden_dropout_prob", attentionProbsDropoutProb = "attention_probs_dropout_prob"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", padTokenID = "pad_token_id", initializerRange = "initializer_range"
        case classifierDropout = "classifier_dropout", numLabels = "num_labels", id2label
        case modelType = "model_type", positionEmbeddingType = "position_embedding_type"
        case isDecoder = "is_decoder", addCrossAttention = "add_cross_attention"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BERTConfig()
        func refuse(_ key: CodingKeys, _ message: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: c, debugDescription: message)
        }
        if let type = try c.decodeIfPresent(String.self, forKey: .modelType), type != "bert" {
            throw refuse(.modelType, "\"\(type)\" is not a BERT model (expected \"bert\")")
        }
        if let type = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType), type != "absolute" {
            throw refuse(.positionEmbeddingType, "\"\(type)\" is not supported: Ember's BERT has absolute position embeddings only")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .isDecoder) == true {
            throw refuse(.isDecoder, "a BERT decoder (causal attention, caches) is not supported; Ember's BERT is an encoder")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .addCrossAttention) == true {
            throw refuse(.addCrossAttention, "cross-attention layers are not supported")
        }
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? defaults.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? defaults.hiddenSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? defaults.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? defaults.numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? defaults.intermediateSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? defaults.hiddenAct
        hiddenDropoutProb = try c.decodeIfPresent(Double.self, forKey: .hiddenDropoutProb) ?? defaults.hiddenDropoutProb
        attentionProbsDropoutProb = try c.decodeIfPresent(Double.self, forKey: .attentionProbsDropoutProb)
            ?? defaults.attentionProbsDropoutProb
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? defaults.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? defaults.typeVocabSize
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? defaults.layerNormEps
        // A key written as null (GPT-style configs without padding) means no padding token.
        padTokenID = c.contains(.padTokenID) ? try c.decodeIfPresent(Int.self, forKey: .padTokenID) : defaults.padTokenID
        initializerRange = try c.decodeIfPresent(Double.self, forKey: .initializerRange) ?? defaults.initializerRange
        classifierDropout = try c.decodeIfPresent(Double.self, forKey: .classifierDropout)
        // Hugging Face derives the number of labels from id2label when it is given.
        if let labels = try c.decodeIfPresent([String: String].self, forKey: .id2label) {
            numLabels = labels.count
        } else {
            numLabels = try c.decodeIfPresent(Int.self, forKey: .numLabels) ?? defaults.numLabels
        }
        if let (key, message) = problem { throw refuse(key, message) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("bert", forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(hiddenDropoutProb, forKey: .hiddenDropoutProb)
        try c.encode(attentionProbsDropoutProb, forKey: .attentionProbsDropoutProb)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(typeVocabSize, forKey: .typeVocabSize)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(padTokenID, forKey: .padTokenID)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(classifierDropout, forKey: .classifierDropout)
        try c.encode(numLabels, forKey: .numLabels)
        try c.encode("absolute", forKey: .positionEmbeddingType)
    }
}

/// The feed-forward activations of BERT checkpoints.
public enum BERTActivation: Sendable, Equatable {
    /// Exact GELU, x Φ(x) (`gelu`, `gelu_python`).
    case gelu
    /// GELU's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    case geluTanh
    case relu
    /// x σ(x) (`silu`, `swish`).
    case silu

    static let names: [String: BERTActivation] = [
        "gelu": .gelu, "gelu_python": .gelu, "gelu_new": .geluTanh, "gelu_pytorch_tanh": .geluTanh,
        "gelu_fast": .geluTanh, "relu": .relu, "silu": .silu, "swish": .silu,
    ]
    static var supportedNames: String { names.keys.sorted().joined(separator: ", ") }

    public init?(huggingFaceName name: String) {
        guard let activation = Self.names[name] else { return nil }
        self = activation
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: true)
        case .relu: return x.relu()
        case .silu: return x.silu()
        }
    }
}
