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
    ///
    /// `paddingFree` (the default) runs the encoder on the real tokens only in evaluation mode
    /// (see `PackedSequences`): the same embeddings to float rounding, with the work of the
    /// padding skipped. In training mode, and in a traced call (`compile`, `vmap`: packing needs
    /// the mask's values), the padded batch is computed, so that dropout draws the same
    /// numbers eagerly and traced.
    public func callAsFunction(inputIDs: Tensor, attentionMask: Tensor, tokenTypeIDs: Tensor? = nil,
                               paddingFree: Bool = true) -> Tensor {
        recordingCall {
            if paddingFree && !isTraining && !attentionMask.isAbstract {
                return embed(inputIDs: inputIDs, packing: PackedSequences(attentionMask: attentionMask), tokenTypeIDs: tokenTypeIDs)
            }
            let hidden = transformer(inputIDs: inputIDs, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs).lastHiddenState
            return normalized(pooling(hidden, attentionMask: attentionMask))
        }
    }

    /// Padding-free embeddings: the encoder on the packed real tokens, pooling over each
    /// sentence's slots.
    private func embed(inputIDs: Tensor, packing: PackedSequences, tokenTypeIDs: Tensor?) -> Tensor {
        let hidden = transformer(inputIDs: inputIDs, packing: packing, tokenTypeIDs: tokenTypeIDs)
        return normalized(pooling(packing.regroup(hidden), attentionMask: packing.slotMask))
    }

    private func normalized(_ pooled: Tensor) -> Tensor { normalizes ? pooled.l2Normalized() : pooled }

    /// Embeddings for inference, as `callAsFunction` computes them (to float rounding), through
    /// `compile`: the forward pass is traced once per input shape and replayed with its
    /// elementwise chains fused (bias and activation, bias, residual and layer norm: one pass
    /// over memory each) and its intermediate buffers reused. Records no gradients. The model
    /// must be in evaluation mode (the trace would keep dropout otherwise). Token types are 0,
    /// as for single sentences.
    ///
    /// `paddingFree` (the default) packs the real tokens outside the trace and passes the
    /// packing in, so the compiled encoder skips the padding; the packed rows and spans are
    /// rounded (`PackedSequences`) so that few shapes are traced.
    public func inference(inputIDs: Tensor, attentionMask: Tensor, paddingFree: Bool = true) -> Tensor {
        precondition(!isTraining, "SentenceEmbeddingModel.inference: the model is in training mode; call eval() first")
        return noGrad {
            guard paddingFree else { return compiledForward([inputIDs, attentionMask])[0] }
            return compiledPaddingFreeForward([inputIDs] + PackedSequences(attentionMask: attentionMask).tensors)[0]
        }
    }

    /// Weights are read by reference (no constant folding): loading new ones needs no retrace,
    /// and no folded copy of them is kept per input shape.
    private lazy var compiledForward = compile { [unowned self] inputs in
        [self(inputIDs: inputs[0], attentionMask: inputs[1], paddingFree: false)]
    }

    /// The padding-free forward of input ids and a packing's index tensors.
    private lazy var compiledPaddingFreeForward = compile { [unowned self] inputs in
        [self.recordingCall { self.embed(inputIDs: inputs[0], packing: PackedSequences(tensors: Array(inputs.dropFirst())), tokenTypeIDs: nil) }]
    }

    /// Loads a sentence-transformers folder (see `SentenceTransformersFolder`). Weights are
    /// cast to `dtype`; the model is returned in evaluation mode.
    public convenience init(pretrained url: URL, dtype: DType = .float32) throws {
        try self.init(pretrained: SentenceTransformersFolder(url), dtype: dtype)
    }

    /// Loads the weights of a folder already read and checked.
    public convenience init(pretrained folder: SentenceTransformersFolder, dtype: DType = .float32) throws {
        let transformer = try BERTModel(pretrained: folder.transformerFolder, addPoolingLayer: false, dtype: dtype)
        // sentence-transformers caps the length at the model's positions, as does this.
        let limit = transformer.config.maxPositionEmbeddings
        self.init(transformer: transformer, pooling: folder.pooling, normalizes: folder.normalizes,
                  maxSequenceLength: min(folder.maxSequenceLength ?? limit, limit), lowercases: folder.lowercases,
                  transformerFolder: folder.transformerFolder)
        eval()
    }
}
