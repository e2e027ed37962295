import Ember
import EmberNN

/// BERT, the bidirectional transformer encoder, in Hugging Face's `BertModel` layout: its state
/// keys (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`,
/// ..., `pooler.dense.weight`) are Hugging Face's, so checkpoints load by name
/// (`init(pretrained:)`) and Ember's weights load in `transformers`.
public final class BERTModel: Module {
    public let config: BERTConfig
    public let embeddings: BERTEmbeddings
    public let encoder: BERTEncoder
    /// tanh(dense(first token)): the `[CLS]` summary that classification heads read.
    public let pooler: BERTPooler?

    /// A model with fresh weights, initialized as Hugging Face does: normal(0,
    /// `initializerRange`) projections and embeddings (the padding row zero), zero biases.
    public convenience init(config: BERTConfig, addPoolingLayer: Bool = true, dtype: DType = .float32) {
        self.init(config: config, addPoolingLayer: addPoolingLayer, dtype: dtype, initialize: true)
    }

    /// `initialize: false` leaves the layers' own initialization, for weights about to be loaded.
    init(config: BERTConfig, addPoolingLayer: Bool, dtype: DType, initialize: Bool) {
        if let (key, message) = config.problem {
            preconditionFailure("BERTModel: config \(key.rawValue) \(message)")
        }
        self.config = config
        embeddings = BERTEmbeddings(config, dtype: dtype)
        encoder = BERTEncoder(config, dtype: dtype)
        pooler = addPoolingLayer ? BERTPooler(config, dtype: dtype) : nil
        super.init()
        if initialize { Self.initializeLikeHuggingFace(self, std: config.initializerRange) }
    }

    /// Encodes `inputIDs` [batch, length] (int64 or int32): the last layer's hidden states
    /// [batch, length, hidden] and, with a pooler, the pooled output [batch, hidden].
    ///
    /// `attentionMask` [batch, length] marks real tokens with 1 (or true) and padding with 0;
    /// as in Hugging Face, padded keys get the dtype's lowest finite value added to their
    /// scores, so no query attends to them (padded queries still produce values). Without a
    /// mask every token is attended. `tokenTypeIDs` [batch, length] default to 0.
    public func callAsFunction(inputIDs: Tensor, attentionMask: Tensor? = nil,
                               tokenTypeIDs: Tensor? = nil) -> (lastHiddenState: Tensor, poolerOutput: Tensor?) {
        recordingCall {
            checkInputs(inputIDs, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs)
            let hidden = embeddings(inputIDs: inputIDs, tokenTypeIDs: tokenTypeIDs)
            let mask = attentionMask.flatMap { Self.additiveMask($0, dtype: hidden.dtype) }
            let last = encoder(hidden, mask: mask)
            return (last, pooler?(last))
        }
    }

    /// Padding-free encoding: the last hidden states of the real tokens only, packed
    /// [packing.tokenCount, hidden] (`packing.unpack` gives the padded layout, zeros at padding).
    /// `inputIDs` and optional `tokenTypeIDs` are the padded [batch, length]; `packing` comes from
    /// their attention mask (`PackedSequences(attentionMask:)`). On the real tokens the values
    /// are those of `callAsFunction` with that mask, to float rounding; projections and
    /// feed-forward blocks run on the real tokens and attention on each sentence's span only.
    /// The pooler is not run (it reads the first column, padding or not).
    public func callAsFunction(inputIDs: Tensor, packing: PackedSequences, tokenTypeIDs: Tensor? = nil) -> Tensor {
        recordingCall {
            checkInputs(inputIDs, attentionMask: nil, tokenTypeIDs: tokenTypeIDs)
            precondition(packing.paddedRows.shape[0] == inputIDs.shape[0] * inputIDs.shape[1] && packing.batch == inputIDs.shape[0],
                         "BERTModel: the packing is of \(packing.batch) rows and \(packing.paddedRows.shape[0]) positions, the input ids \(inputIDs.shape)")
            let hidden = embeddings(packedInputIDs: packing.pack(inputIDs), positionIDs: packing.positions,
                                    tokenTypeIDs: tokenTypeIDs.map(packing.pack))
            let mask = Self.additiveMask(packing.slotMask, dtype: hidden.dtype)
            return encoder(hidden, mask: mask, packing: packing)
        }
    }

    /// A [batch, length] mask of ones and zeros as the scores' additive mask [batch, 1, 1, length]:
    /// 0 for tokens, the lowest finite value for padding (Hugging Face's extended mask). Nil
    /// when nothing is masked, which saves a pass over the scores.
    static func additiveMask(_ mask: Tensor, dtype: DType) -> Tensor? {
        let keep = mask.cast(to: dtype)
        if !keep.isAbstract && keep.min().item() == 1 { return nil }
        return ((1 - keep) * lowestFinite(dtype)).reshaped(to: [mask.shape[0], 1, 1, mask.shape[1]])
    }

    /// PyTorch's `torch.finfo(dtype).min`.
    static func lowestFinite(_ dtype: DType) -> Double {
        switch dtype {
        case .float64: return -Double.greatestFiniteMagnitude
        case .float16: return -65504
        // The largest bfloat16, 0x7F7F.
        case .bfloat16: return -3.3895313892515355e38
        default: return -Double(Float.greatestFiniteMagnitude)
        }
    }

    private func checkInputs(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) {
        precondition(ids.rank == 2 && (ids.dtype == .int64 || ids.dtype == .int32),
                     "BERTModel: expected input ids [batch, length] of int64 or int32, found \(ids.dtype) \(ids.shape)")
        precondition(ids.shape[1] <= config.maxPositionEmbeddings,
                     "BERTModel: \(ids.shape[1]) tokens exceed max_position_embeddings (\(config.maxPositionEmbeddings)); truncate the input")
        precondition(attentionMask.map { $0.shape == ids.shape } ?? true,
                     "BERTModel: the attention mask's shape \(attentionMask!.shape) differs from the input ids' \(ids.shape)")
        precondition(tokenTypeIDs.map { $0.shape == ids.shape } ?? true,
                     "BERTModel: the token type ids' shape \(tokenTypeIDs!.shape) differs from the input ids' \(ids.shape)")
    }

    /// Hugging Face's `_init_weights` for BERT: projections and embeddings from normal(0, std),
    /// biases zero, embedding padding rows zero; layer norms keep their ones and zeros.
    static func initializeLikeHuggingFace(_ model: Module, std: Double) {
        noGrad {
            for (_, module) in model.namedModules() {
                if let linear = module as? Linear {
                    Initializer.normal(std: std).apply(to: linear.weight)
                    if let bias = linear.bias { Initializer.zeros.apply(to: bias) }
                } else if let embedding = module as? Embedding {
                    Initializer.normal(std: std).apply(to: embedding.weight)
                    if let row = embedding.paddingIndex {
                        embedding.weight.narrow(axis: 0, start: row, count: 1).assign(.scalar(0))
                    }
                }
            }
        }
    }
}

/// tanh of a projection of the first token's hidden state (Hugging Face's `BertPooler`: `dense`).
public final class BERTPooler: Module, Layer {
    public let dense: Linear

    init(_ config: BERTConfig, dtype: DType) {
        dense = Linear(config.hiddenSize, config.hiddenSize, dtype: dtype)
    }

    /// [batch, length, hidden] → [batch, hidden].
    public func forward(_ hidden: Tensor) -> Tensor {
        dense(hidden.narrow(axis: 1, start: 0, count: 1).reshaped(to: [hidden.shape[0], hidden.shape[2]])).tanh()
    }
}
