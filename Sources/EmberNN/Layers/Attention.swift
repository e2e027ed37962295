import Ember

/// `Ember.scaledDotProductAttention` with dropout on the attention weights (always, as
/// PyTorch's functional form). Without dropout it is the fused primitive; with it, the weights
/// are computed whole so that they can be dropped.
public func scaledDotProductAttention(_ query: Tensor, _ key: Tensor, _ value: Tensor, mask: Tensor? = nil,
                                      isCausal: Bool = false, dropout: Double, scale: Double? = nil) -> Tensor {
    guard dropout > 0 else { return Ember.scaledDotProductAttention(query, key, value, mask: mask, isCausal: isCausal, scale: scale) }
    precondition(query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
                 "scaledDotProductAttention: expected query, key and value of rank 2 or more, found \(query.shape), \(key.shape), \(value.shape)")
    let e = query.shape[query.rank - 1], l = query.shape[query.rank - 2], s = key.shape[key.rank - 2]
    precondition(key.shape[key.rank - 1] == e && value.shape[value.rank - 2] == s,
                 "scaledDotProductAttention: expected key [..., S, \(e)] and value [..., S, Ev], found \(key.shape) and \(value.shape)")
    precondition(mask.map { $0.dtype == .bool || $0.dtype.isFloatingPoint } ?? true,
                 "scaledDotProductAttention: expected a bool or floating-point mask, found \(mask!.dtype)")
    var additive = mask.map { $0.dtype == .bool ? additiveMask(ignoring: $0.logicalNot(), dtype: query.dtype) : $0.cast(to: query.dtype) }
    if isCausal { additive = combined(additive, causalMask(queries: l, keys: s, dtype: query.dtype)) }
    return attend(query, key, value, mask: additive, dropout: dropout, scale: scale ?? 1 / Double(e).squareRoot()).output
}

/// The attention weights softmax(q kᵀ · scale + mask), after dropout, and their product with v.
func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, dropout: Double, scale: Double) -> (output: Tensor, weights: Tensor) {
    // Scaling q rather than the scores touches L·E values instead of L·S.
    var scores = matmul(q * scale, k.transposed())
    if let mask { scores = scores + mask }
    // A fresh Dropout is in training mode; callers pass 0 where dropout is off.
    let weights = dropout > 0 ? Dropout(probability: dropout).forward(safeSoftmax(scores)) : safeSoftmax(scores)
    return (matmul(weights, v), weights)
}

/// Softmax over the last axis in which a row of -inf (a query with nothing to attend to) gives
/// zeros instead of nan, as PyTorch's attention kernels. The extra work is on [..., L, 1] only.
func safeSoftmax(_ scores: Tensor) -> Tensor {
    // Under autocast the scores are normalized in float32, like softmax.
    let scores = Autocast.widened(scores)
    let zero = Tensor.scalar(0, dtype: scores.dtype), one = Tensor.scalar(1, dtype: scores.dtype)
    let rowMax = noGrad { scores.max(axis: -1, keepDims: true) }
    let e = (scores - Tensor.where(rowMax .== -Double.infinity, zero, rowMax)).exp()
    let total = e.sum(axis: -1, keepDims: true)
    return e / Tensor.where(total .== 0, one, total)
}

/// -inf where `ignored` is true, 0 elsewhere: a boolean mask as one to add to the scores.
func additiveMask(ignoring ignored: Tensor, dtype: DType) -> Tensor {
    Tensor.where(ignored, Tensor.scalar(-Double.infinity, dtype: dtype), Tensor.scalar(0, dtype: dtype))
}

/// The additive mask that hides key j from query i when j > i (PyTorch's top-left causal mask).
func causalMask(queries: Int, keys: Int, dtype: DType) -> Tensor {
    let later = Tensor.arange(keys).unsqueezed(axis: 0) .> Tensor.arange(queries).unsqueezed(axis: 1)
    return additiveMask(ignoring: later, dtype: dtype)
}

func combined(_ mask: Tensor?, _ other: Tensor) -> Tensor { mask.map { $0 + other } ?? other }

/// Multi-head attention with PyTorch's parameters (`in_proj_weight` [3E, E] holding the query,
/// key and value projections, `in_proj_bias`, `out_proj`) and initialization (Xavier-uniform
/// projections, zero biases). Inputs are [batch, length, E] with `batchFirst`, else
/// [length, batch, E], or unbatched [length, E]. Self-attention (query, key and value the same
/// tensor) projects with one matmul; the heads are one batched matmul.
public final class MultiHeadAttention: Module {
    @Parameter public var inProjWeight: Tensor
    @Parameter public var inProjBias: Tensor?
    public let outProj: Linear
    public let embedDim: Int
    public let numHeads: Int
    public let headDim: Int
    /// Dropout on the attention weights, in training mode.
    public let dropout: Double
    public let batchFirst: Bool

    public init(embedDim: Int, numHeads: Int, dropout: Double = 0, bias: Bool = true, batchFirst: Bool = false,
                dtype: DType = .float32) {
        precondition(embedDim > 0 && numHeads > 0 && embedDim % numHeads == 0,
                     "MultiHeadAttention: embedDim (\(embedDim)) must be a positive multiple of numHeads (\(numHeads))")
        precondition((0...1).contains(dropout), "MultiHeadAttention: dropout must be in [0, 1], got \(dropout)")
        self.embedDim = embedDim
        self.numHeads = numHeads
        headDim = embedDim / numHeads
        self.dropout = dropout
        self.batchFirst = batchFirst
        inProjWeight = Initializer.xavierUniform().make([3 * embedDim, embedDim], dtype: dtype)
        inProjBias = bias ? Tensor.zeros([3 * embedDim], dtype: dtype) : nil
        outProj = Linear(embedDim, embedDim, bias: bias, dtype: dtype)
        if let outBias = outProj.bias { Initializer.zeros.apply(to: outBias) }
    }

    /// Attends from `query` [L] to `key`/`value` [S] (in the layout of `batchFirst`).
    /// `keyPaddingMask` [batch, S] hides keys: true (or -inf when floating point) ignores a key.
    /// `attentionMask` [L, S] or [batch·numHeads, L, S] likewise, per query; `isCausal` hides later
    /// keys (combined with `attentionMask` when both are given). With `needWeights`, also returns
    /// the attention weights [batch, L, S], averaged over heads unless `averageWeights` is false
    /// ([batch, numHeads, L, S]).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                               attentionMask: Tensor? = nil, isCausal: Bool = false, needWeights: Bool = true,
                               averageWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
        recordingCall {
            let unbatched = query.rank == 2
            precondition(query.rank == 3 || unbatched,
                         "MultiHeadAttention: expected a query of rank 3 (\(batchFirst ? "[batch, length, embedDim]" : "[length, batch, embedDim]")) or 2, found \(query.shape)")
            // Unbatched inputs get a batch axis of 1, removed again from the results.
            let batchAxis = batchFirst ? 0 : 1
            let batched = unbatched ? [query, key, value].map { $0.unsqueezed(axis: batchAxis) } : [query, key, value]
            let result = attention(batched[0], batched[1], batched[2], selfAttention: query === key && key === value,
                                   keyPaddingMask: unbatched ? keyPaddingMask?.unsqueezed(axis: 0) : keyPaddingMask,
                                   attentionMask: attentionMask, isCausal: isCausal, needWeights: needWeights,
                                   averageWeights: averageWeights)
            guard unbatched else { return result }
            return (result.output.squeezed(axis: batchAxis), result.weights?.squeezed(axis: 0))
        }
    }

    private func attention(_ query: Tensor, _ key: Tensor, _ value: Tensor, selfAttention: Bool, keyPaddingMask: Tensor?,
                           attentionMask: Tensor?, isCausal: Bool, needWeights: Bool,
                           averageWeights: Bool) -> (output: Tensor, weights: Tensor?) {
        let batchAxis = batchFirst ? 0 : 1, lengthAxis = batchFirst ? 1 : 0
        let batch = query.shape[batchAxis], l = query.shape[lengthAxis], s = key.shape[lengthAxis]
        precondition(query.shape[2] == embedDim,
                     "MultiHeadAttention: expected a query whose last axis is embedDim \(embedDim), found \(query.shape)")
        precondition(key.rank == 3 && key.shape == value.shape && key.shape[batchAxis] == batch && key.shape[2] == embedDim,
                     "MultiHeadAttention: expected key and value of one shape with batch \(batch) and embedDim \(embedDim) like the query \(query.shape), found \(key.shape) and \(value.shape)")

        let q: Tensor, k: Tensor, v: Tensor
        if selfAttention {
            let qkv = splitHeads(project(query, part: 0, count: 3), parts: 3)
            (q, k, v) = (qkv[0], qkv[1], qkv[2])
        } else {
            q = splitHeads(project(query, part: 0, count: 1), parts: 1)[0]
            k = splitHeads(project(key, part: 1, count: 1), parts: 1)[0]
            v = splitHeads(project(value, part: 2, count: 1), parts: 1)[0]
        }
        // Without weights to return or drop, the fused primitive (its causal mask skips blocks).
        let dropout = isTraining ? self.dropout : 0
        let fused = !needWeights && dropout == 0
        let mask = scoreMask(keyPaddingMask: keyPaddingMask, attentionMask: attentionMask, isCausal: isCausal && !fused,
                             batch: batch, queries: l, keys: s, dtype: query.dtype)
        let scale = 1 / Double(headDim).squareRoot()
        let heads: Tensor, weights: Tensor?
        if fused {
            (heads, weights) = (Ember.scaledDotProductAttention(q, k, v, mask: mask, isCausal: isCausal, scale: scale), nil)
        } else {
            (heads, weights) = attend(q, k, v, mask: mask, dropout: dropout, scale: scale)
        }
        // [batch, heads, L, headDim] back to the input layout with the heads side by side.
        let merged = heads.permuted(batchFirst ? [0, 2, 1, 3] : [2, 0, 1, 3])
            .reshaped(to: [query.shape[0], query.shape[1], embedDim])
        let output = outProj(merged)
        guard needWeights, let weights else { return (output, nil) }
        return (output, averageWeights ? weights.mean(axis: 1) : weights)
    }

    /// x times `count` consecutive blocks of the input projection, starting at block `part`.
    private func project(_ x: Tensor, part: Int, count: Int) -> Tensor {
        let rows = count * embedDim, start = part * embedDim
        // Under autocast the parameters are cast whole, once per region, then narrowed.
        let y = x.matmul(Autocast.lowered(inProjWeight).narrow(axis: 0, start: start, count: rows).transposed())
        return inProjBias.map { y + Autocast.lowered($0).narrow(axis: 0, start: start, count: rows) } ?? y
    }

    /// [d0, d1, parts·E] in the input layout → views [parts, batch, heads, length, headDim].
    private func splitHeads(_ x: Tensor, parts: Int) -> Tensor {
        x.reshaped(to: [x.shape[0], x.shape[1], parts, numHeads, headDim])
            .permuted(batchFirst ? [2, 0, 3, 1, 4] : [2, 1, 3, 0, 4])
    }

    /// The masks as one additive tensor broadcasting to the scores [batch, heads, L, S].
    private func scoreMask(keyPaddingMask: Tensor?, attentionMask: Tensor?, isCausal: Bool, batch: Int,
                           queries l: Int, keys s: Int, dtype: DType) -> Tensor? {
        func additive(_ mask: Tensor) -> Tensor {
            precondition(mask.dtype == .bool || mask.dtype.isFloatingPoint,
                         "MultiHeadAttention: expected a bool or floating-point mask, found \(mask.dtype)")
            return mask.dtype == .bool ? additiveMask(ignoring: mask, dtype: dtype) : mask.cast(to: dtype)
        }
        var mask: Tensor?
        if let keyPaddingMask {
            precondition(keyPaddingMask.shape == [batch, s],
                         "MultiHeadAttention: expected a key padding mask of shape \([batch, s]) ([batch, keys]), found \(keyPaddingMask.shape)")
            mask = additive(keyPaddingMask).reshaped(to: [batch, 1, 1, s])
        }
        if let attentionMask {
            let perHead = [batch * numHeads, l, s]
            precondition(attentionMask.shape == [l, s] || attentionMask.shape == perHead,
                         "MultiHeadAttention: expected an attention mask of shape \([l, s]) or \(perHead), found \(attentionMask.shape)")
            let shaped = attentionMask.rank == 3 ? attentionMask.reshaped(to: [batch, numHeads, l, s]) : attentionMask
            mask = combined(mask, additive(shaped))
        }
        if isCausal { mask = combined(mask, causalMask(queries: l, keys: s, dtype: dtype)) }
        return mask
    }
}
