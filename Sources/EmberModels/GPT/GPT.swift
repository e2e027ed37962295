import Ember
import EmberNN

/// A GPT-2 language model, written as Karpathy's nanoGPT (`model.py`) with its state keys:
/// `transformer.wte.weight` (token embedding), `transformer.wpe.weight` (positions),
/// `transformer.h.N.ln_1`, `.attn.c_attn`, `.attn.c_proj`, `.ln_2`, `.mlp.c_fc`, `.mlp.c_proj`,
/// `transformer.ln_f` and `lm_head.weight`. Linear weights are [out, in] as in nanoGPT (Hugging
/// Face's GPT-2 stores them transposed, as `Conv1D`). Pre-norm blocks with causal
/// self-attention and an MLP of width 4·n_embd with exact (erf) GELU, as nanoGPT's `nn.GELU()`.
///
/// `lm_head.weight` is the token embedding itself (weight tying): one tensor under two names.
/// The state dict holds both keys, as PyTorch's; `parameters()` lists it once; loading a
/// state dict writes into it, so the two stay one (a file that has only
/// `transformer.wte.weight` loads strictly too).
///
/// Weights start as nanoGPT's: N(0, 0.02²) for linear layers and embeddings, zero biases, and
/// N(0, (0.02/√(2·n_layer))²) for the projections into the residual stream (`c_proj`).
public final class GPT: Module, Layer {
    public let config: GPTConfig
    let transformer: GPTTransformer
    let lmHead: LanguageModelHead

    public init(_ config: GPTConfig, dtype: DType = .float32) {
        if let problem = config.problem { preconditionFailure("GPT: \(problem)") }
        self.config = config
        transformer = GPTTransformer(config, dtype: dtype)
        lmHead = LanguageModelHead(tiedTo: transformer.wte.weight)
        super.init()
        initializeLikeNanoGPT()
    }

    private func initializeLikeNanoGPT() {
        for (name, module) in namedModules() {
            if let linear = module as? Linear {
                let std = name.hasSuffix("c_proj") ? 0.02 / Double(2 * config.nLayer).squareRoot() : 0.02
                Initializer.normal(std: std).apply(to: linear.weight)
                if let bias = linear.bias { Initializer.zeros.apply(to: bias) }
            } else if let embedding = module as? Embedding {
                Initializer.normal(std: 0.02).apply(to: embedding.weight)
            }
        }
    }

    /// A cache for `logits(_:cache:)`, empty. Its buffers are made for the first batch it sees,
    /// or now for `batchSize` sequences.
    public func makeCache(batchSize: Int? = nil) -> KVCache {
        KVCache(layers: config.nLayer, heads: config.nHead, headSize: config.nEmbd / config.nHead, capacity: config.blockSize,
                dtype: transformer.wte.weight.dtype, batchSize: batchSize)
    }

    /// Logits [batch, length, vocabSize] for tokens [batch, length] (int64 or int32).
    ///
    /// With a `cache`, the tokens continue the ones it holds: they take the positions after
    /// them, attend to them, and are added to it, so feeding a sequence in pieces gives the
    /// logits of feeding it whole. The cache holds at most `blockSize` tokens: going past
    /// throws `contextOverflow` (`generate` then slides the window, as nanoGPT). Inside a
    /// traced function (`compile`) the cache's length is a value of the graph, so the tokens
    /// are not checked against the context; positions past it stop at the position embedding.
    public func logits(_ tokens: Tensor, cache: KVCache? = nil) throws -> Tensor {
        if let problem = problem(tokens, cache: cache) { throw problem }
        return recordingCall { run(tokens, cache: cache) }
    }

    /// The logits of `logits(_:)`; bad tokens stop the program with the message `logits` throws.
    public func forward(_ tokens: Tensor) -> Tensor {
        if let problem = problem(tokens, cache: nil) { preconditionFailure(problem.description) }
        return run(tokens, cache: nil)
    }

    private func problem(_ tokens: Tensor, cache: KVCache?) -> GPTError? {
        guard tokens.dtype == .int64 || tokens.dtype == .int32, tokens.rank == 2, tokens.shape[1] > 0 else {
            return .invalidTokens("expected int64 tokens [batch, length] with length ≥ 1, found \(tokens.dtype) \(tokens.shape)")
        }
        if let cache {
            guard cache.layers == config.nLayer && cache.capacity == config.blockSize else {
                return .cacheMismatch("the cache was made for a model of \(cache.layers) layers and block_size \(cache.capacity), not \(config.nLayer) and \(config.blockSize)")
            }
            if let batch = cache.batchSize, batch != tokens.shape[0] {
                return .cacheMismatch("the cache holds a batch of \(batch) sequences, the tokens are \(tokens.shape[0])")
            }
        }
        // A traced call cannot read the cache's length (a value of the graph).
        let cached = tokens.isAbstract ? 0 : cache?.length ?? 0
        if cached + tokens.shape[1] > config.blockSize {
            return .contextOverflow(cached: cached, given: tokens.shape[1], blockSize: config.blockSize)
        }
        // A traced input has no values to check.
        guard !tokens.isAbstract else { return nil }
        let ids = tokens.doubles
        if let position = ids.firstIndex(where: { $0 < 0 || $0 >= Double(config.vocabSize) }) {
            return .tokenOutOfRange(token: Int(ids[position]), position: position, vocabSize: config.vocabSize)
        }
        return nil
    }

    private func run(_ tokens: Tensor, cache: KVCache?) -> Tensor {
        cache?.allocate(batch: tokens.shape[0])
        let logits = lmHead(transformer(tokens, cache: cache))
        cache?.advance(by: tokens.shape[1])
        return logits
    }
}

/// nanoGPT's `transformer` ModuleDict: embeddings, blocks and the final layer norm.
final class GPTTransformer: Module {
    let wte: Embedding
    let wpe: Embedding
    let drop: Dropout
    let h: [GPTBlock]
    let lnF: LayerNorm

    init(_ config: GPTConfig, dtype: DType) {
        wte = Embedding(config.vocabSize, config.nEmbd, dtype: dtype)
        wpe = Embedding(config.blockSize, config.nEmbd, dtype: dtype)
        drop = Dropout(probability: config.dropout)
        h = (0..<config.nLayer).map { _ in GPTBlock(config, dtype: dtype) }
        lnF = LayerNorm(config.nEmbd, bias: config.bias, dtype: dtype)
    }

    /// The final hidden states [batch, length, nEmbd].
    func callAsFunction(_ tokens: Tensor, cache: KVCache?) -> Tensor {
        recordingCall {
            let positions = cache?.positions(count: tokens.shape[1]) ?? Tensor.arange(tokens.shape[1])
            var x = drop(wte(tokens) + wpe(positions))
            for (layer, block) in h.enumerated() {
                // Without a cache a block is called as a layer, so that it can be replaced (an FSDP unit).
                x = cache == nil ? block(x) : block(x, cache: cache, layer: layer)
            }
            return lnF(x)
        }
    }
}

/// The output layer, logits = x Wᵀ without bias, whose weight is the token embedding's tensor.
final class LanguageModelHead: Module, Layer {
    @Parameter var weight: Tensor

    init(tiedTo embedding: Tensor) {
        weight = embedding
    }

    func forward(_ x: Tensor) -> Tensor { x.matmul(Autocast.lowered(weight).transposed()) }
}

/// One pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
public final class GPTBlock: Module, Layer {
    // Keyed ln_1 and ln_2 (nanoGPT's names) by the initializer.
    @Child var ln1: LayerNorm
    let attn: CausalSelfAttention
    @Child var ln2: LayerNorm
    let mlp: GPTMLP

    init(_ config: GPTConfig, dtype: DType) {
        _ln1 = Child(wrappedValue: LayerNorm(config.nEmbd, bias: config.bias, dtype: dtype), key: "ln_1")
        attn = CausalSelfAttention(config, dtype: dtype)
        _ln2 = Child(wrappedValue: LayerNorm(config.nEmbd, bias: config.bias, dtype: dtype), key: "ln_2")
        mlp = GPTMLP(config, dtype: dtype)
    }

    func callAsFunction(_ x: Tensor, cache: KVCache?, layer: Int) -> Tensor {
        recordingCall { run(x, cache: cache, layer: layer) }
    }

    public func forward(_ x: Tensor) -> Tensor { run(x, cache: nil, layer: 0) }

    private func run(_ x: Tensor, cache: KVCache?, layer: Int) -> Tensor {
        let attended = x + attn(ln1(x), cache: cache, layer: layer)
        return attended + mlp(ln2(attended))
    }
}

/// Multi-head causal self-attention with the query, key and value projections in one linear
/// layer (`c_attn`, [3·nEmbd, nEmbd]) and the output projection `c_proj`.
final class CausalSelfAttention: Module {
    let cAttn: Linear
    let cProj: Linear
    let residDropout: Dropout
    let heads: Int
    let dropout: Double

    init(_ config: GPTConfig, dtype: DType) {
        cAttn = Linear(config.nEmbd, 3 * config.nEmbd, bias: config.bias, dtype: dtype)
        cProj = Linear(config.nEmbd, config.nEmbd, bias: config.bias, dtype: dtype)
        residDropout = Dropout(probability: config.dropout)
        heads = config.nHead
        dropout = config.dropout
    }

    /// x [batch, length, nEmbd], the tokens after the `cache`'s (which takes their keys and values).
    func callAsFunction(_ x: Tensor, cache: KVCache?, layer: Int) -> Tensor {
        recordingCall {
            let (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2])
            // [batch, length, 3·width] → three [batch, heads, length, headSize].
            let qkv = cAttn(x).reshaped(to: [batch, length, 3, heads, width / heads]).permuted(2, 0, 3, 1, 4)
            var (k, v) = (qkv[1], qkv[2])
            // With a cache, query i sits at position length + i and sees the keys up to it.
            var visible: Tensor?
            let attentionDropout = isTraining ? dropout : 0
            if let cache { (k, v, visible) = cache.update(layer: layer, keys: k, values: v, wholeBuffers: attentionDropout > 0) }
            let y = scaledDotProductAttention(qkv[0], k, v, mask: visible, isCausal: cache == nil, dropout: attentionDropout)
            return residDropout(cProj(y.permuted(0, 2, 1, 3).reshaped(to: [batch, length, width])))
        }
    }
}

/// The block's feed-forward part: c_fc (nEmbd → 4·nEmbd), GELU, c_proj back, dropout.
final class GPTMLP: Module, Layer {
    let cFc: Linear
    let gelu = GELU()
    let cProj: Linear
    let dropout: Dropout

    init(_ config: GPTConfig, dtype: DType) {
        cFc = Linear(config.nEmbd, 4 * config.nEmbd, bias: config.bias, dtype: dtype)
        cProj = Linear(4 * config.nEmbd, config.nEmbd, bias: config.bias, dtype: dtype)
        dropout = Dropout(probability: config.dropout)
    }

    func forward(_ x: Tensor) -> Tensor { dropout(cProj(gelu(cFc(x)))) }
}
