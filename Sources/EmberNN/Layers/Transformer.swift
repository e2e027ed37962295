import Ember

/// The feed-forward activation of a transformer layer.
public enum TransformerActivation: Sendable {
    case relu, gelu
}

/// One transformer encoder layer, PyTorch's `nn.TransformerEncoderLayer` with its state keys
/// (`self_attn.*`, `linear1`, `linear2`, `norm1`, `norm2`): self-attention and a feed-forward
/// block, each with a residual connection, layer norm after (post-norm) or before
/// (`normFirst`, pre-norm) each block. Inputs are [batch, length, dModel] with `batchFirst`,
/// else [length, batch, dModel].
public final class TransformerEncoderLayer: Module, Layer {
    public let selfAttn: MultiHeadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    // Stands in for the shared `LayerNorm` layer (same state keys).
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    private let configuration: Configuration
    public var activation: TransformerActivation { configuration.activation }
    public var normFirst: Bool { configuration.normFirst }

    private struct Configuration {
        var dModel, numHeads, feedforward: Int
        var dropout, layerNormEps: Double
        var activation: TransformerActivation
        var batchFirst, normFirst, bias: Bool
        var dtype: DType
    }

    public convenience init(dModel: Int, numHeads: Int, feedforward: Int = 2048, dropout: Double = 0.1,
                            activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                            normFirst: Bool = false, bias: Bool = true, dtype: DType = .float32) {
        self.init(Configuration(dModel: dModel, numHeads: numHeads, feedforward: feedforward, dropout: dropout,
                                layerNormEps: layerNormEps, activation: activation, batchFirst: batchFirst,
                                normFirst: normFirst, bias: bias, dtype: dtype))
    }

    private init(_ c: Configuration) {
        precondition(c.feedforward > 0, "TransformerEncoderLayer: feedforward must be positive, got \(c.feedforward)")
        configuration = c
        selfAttn = MultiHeadAttention(embedDim: c.dModel, numHeads: c.numHeads, dropout: c.dropout, bias: c.bias,
                                      batchFirst: c.batchFirst, dtype: c.dtype)
        linear1 = Linear(c.dModel, c.feedforward, bias: c.bias, dtype: c.dtype)
        dropout = Dropout(probability: c.dropout)
        linear2 = Linear(c.feedforward, c.dModel, bias: c.bias, dtype: c.dtype)
        norm1 = LayerNorm([c.dModel], epsilon: c.layerNormEps, bias: c.bias, dtype: c.dtype)
        norm2 = LayerNorm([c.dModel], epsilon: c.layerNormEps, bias: c.bias, dtype: c.dtype)
        dropout1 = Dropout(probability: c.dropout)
        dropout2 = Dropout(probability: c.dropout)
    }

    /// A layer of the same configuration holding copies of this one's parameters (PyTorch's
    /// deepcopy in `TransformerEncoder`), in the same mode.
    public func copy() -> TransformerEncoderLayer {
        let layer = TransformerEncoderLayer(configuration)
        noGrad {
            for (target, source) in zip(layer.parameters(), parameters()) { target.assign(source) }
        }
        return layer.train(isTraining)
    }

    public func forward(_ x: Tensor) -> Tensor { encode(x, mask: nil, keyPaddingMask: nil, isCausal: false, packing: nil) }

    /// `mask`, `keyPaddingMask` and `isCausal` go to the self-attention (see `MultiHeadAttention`).
    public func callAsFunction(_ src: Tensor, mask: Tensor?, keyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        recordingCall { encode(src, mask: mask, keyPaddingMask: keyPaddingMask, isCausal: isCausal, packing: nil) }
    }

    /// Padding-free encoding (see `PackedSequences`): `packed` [tokens, dModel] holds the real
    /// tokens of a padded batch (`packing.pack(src)`); the feed-forward block and norms run on
    /// them and each token attends within its own sentence. The result [tokens, dModel] equals,
    /// on the real tokens and to float rounding, the padded computation with `keyPaddingMask`
    /// hiding the padding (and the causal mask with `isCausal`).
    public func callAsFunction(_ packed: Tensor, packing: PackedSequences, isCausal: Bool = false) -> Tensor {
        recordingCall { encode(packed, mask: nil, keyPaddingMask: nil, isCausal: isCausal, packing: packing) }
    }

    private func encode(_ src: Tensor, mask: Tensor?, keyPaddingMask: Tensor?, isCausal: Bool, packing: PackedSequences?) -> Tensor {
        precondition(src.rank == (packing == nil ? 3 : 2) && src.shape[src.rank - 1] == configuration.dModel,
                     "TransformerEncoderLayer: expected input \(packing != nil ? "[tokens, dModel]" : configuration.batchFirst ? "[batch, length, dModel]" : "[length, batch, dModel]") with dModel \(configuration.dModel), found \(src.shape)")
        func selfAttention(_ x: Tensor) -> Tensor {
            guard let packing else {
                let attended = selfAttn(query: x, key: x, value: x, keyPaddingMask: keyPaddingMask, attentionMask: mask,
                                        isCausal: isCausal, needWeights: false).output
                return dropout1(attended)
            }
            // Each sentence's slots [batch, span, dModel], empty slots hidden as padding keys.
            let grouped = configuration.batchFirst ? packing.regroup(x) : packing.regroup(x).permuted(1, 0, 2)
            let attended = selfAttn(query: grouped, key: grouped, value: grouped, keyPaddingMask: packing.slotMask .== 0,
                                    isCausal: isCausal, needWeights: false).output
            return dropout1(packing.ungroup(configuration.batchFirst ? attended : attended.permuted(1, 0, 2)))
        }
        func feedForward(_ x: Tensor) -> Tensor {
            let hidden = linear1(x)
            let activated = activation == .relu ? hidden.relu() : hidden.gelu()
            return dropout2(linear2(dropout(activated)))
        }
        if normFirst {
            let x = src + selfAttention(norm1(src))
            return x + feedForward(norm2(x))
        }
        let x = norm1(src + selfAttention(src))
        return norm2(x + feedForward(x))
    }
}

/// A stack of copies of one encoder layer (`layers.0`, `layers.1`, ...), optionally followed by
/// a final normalization (`norm`), PyTorch's `nn.TransformerEncoder`.
public final class TransformerEncoder: Module, Layer {
    public let layers: [TransformerEncoderLayer]
    public let norm: (any Layer)?

    /// `numLayers` copies of `layer`: they start with equal parameters, as in PyTorch. The
    /// stack takes the layer's mode.
    public init(_ layer: TransformerEncoderLayer, numLayers: Int, norm: (any Layer)? = nil) {
        precondition(numLayers > 0, "TransformerEncoder: numLayers must be positive, got \(numLayers)")
        layers = (0..<numLayers).map { _ in layer.copy() }
        self.norm = norm
        super.init()
        train(layer.isTraining)
    }

    public func forward(_ x: Tensor) -> Tensor { encode(x) { $1($0, mask: nil) } }

    /// Runs every layer with the same masks (see `TransformerEncoderLayer`).
    public func callAsFunction(_ src: Tensor, mask: Tensor?, keyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        recordingCall { encode(src) { $1($0, mask: mask, keyPaddingMask: keyPaddingMask, isCausal: isCausal) } }
    }

    /// Padding-free encoding of packed tokens [tokens, dModel] (see
    /// `TransformerEncoderLayer.callAsFunction(_:packing:isCausal:)`).
    public func callAsFunction(_ packed: Tensor, packing: PackedSequences, isCausal: Bool = false) -> Tensor {
        recordingCall { encode(packed) { $1($0, packing: packing, isCausal: isCausal) } }
    }

    private func encode(_ src: Tensor, _ layerCall: (Tensor, TransformerEncoderLayer) -> Tensor) -> Tensor {
        let encoded = layers.reduce(src, layerCall)
        return norm.map { $0(encoded) } ?? encoded
    }
}
