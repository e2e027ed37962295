import Ember

/// The keys and values that a `GPT`'s attention layers computed for the tokens seen so far,
/// so that the next tokens attend to them without recomputing them. Make one with
/// `GPT.makeCache()`; it holds at most `blockSize` tokens, one batch size, and belongs to the
/// model that made it.
///
/// The cache is static (Hugging Face's `StaticCache`): each layer's keys and values live in
/// buffers [batch, heads, blockSize, headSize] allocated once, and the number of tokens held
/// is an int64 tensor. A call writes its tokens' keys and values after the held ones and
/// advances the count, all in place (`assign`), so a compiled call updates the cache as an
/// eager one does: one compiled decode step (a function of one token per sequence, calling
/// `logits(_:cache:)`) serves every step, each at the position the cache has reached.
///
/// Gradients reach the keys and values of the current call's tokens, not those held from
/// earlier calls (they are stored values).
public final class KVCache {
    /// The most tokens the cache holds: the model's context length.
    public let capacity: Int
    let layers: Int
    let heads: Int
    let headSize: Int
    let dtype: DType
    /// Each layer's keys and values [batch, heads, capacity, headSize]; slots from `filled` on
    /// hold nothing. Allocated for the first batch that the cache sees, or by `makeCache(batchSize:)`.
    private var keys: [Tensor] = []
    private var values: [Tensor] = []
    /// The number of tokens held, a scalar int64 tensor updated in place.
    let filled = Tensor.zeros([], dtype: .int64)

    init(layers: Int, heads: Int, headSize: Int, capacity: Int, dtype: DType, batchSize: Int?) {
        self.layers = layers
        self.heads = heads
        self.headSize = headSize
        self.capacity = capacity
        self.dtype = dtype
        if let batchSize { allocate(batch: batchSize) }
    }

    /// Number of tokens held, which is also the position of the next token. (Read outside
    /// traced functions: inside one it is the count when the function was traced.)
    public var length: Int { Int(filled.item()) }

    /// The batch size of the tokens held, nil before the first call.
    public var batchSize: Int? { keys.first?.shape[0] }

    /// Forgets every token (the buffers and their batch size stay).
    public func reset() { filled.assign(Tensor.zeros([], dtype: .int64)) }

    /// Makes the buffers for `batch` sequences, unless they exist.
    func allocate(batch: Int) {
        guard keys.isEmpty else { return }
        keys = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headSize], dtype: dtype) }
        values = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headSize], dtype: dtype) }
    }

    /// The positions of `count` tokens after the held ones (int64 [count]).
    func positions(count: Int) -> Tensor { filled + Tensor.arange(count) }

    /// Writes layer `layer`'s keys and values [batch, heads, count, headSize] of `count` new
    /// tokens after the held ones; returns the keys and values to attend to, [.., S, ..], and
    /// which of them each new token sees [count, S] (itself and those before it).
    ///
    /// Traced calls attend to the whole buffers (S = capacity), eager ones to the held and new
    /// tokens only, unless `wholeBuffers`: attention dropout draws a mask of the scores' shape,
    /// which must be the compiled calls' for the same seed to drop the same weights.
    func update(layer: Int, keys newKeys: Tensor, values newValues: Tensor,
                wholeBuffers: Bool) -> (keys: Tensor, values: Tensor, visible: Tensor) {
        let count = newKeys.shape[2]
        let k: Tensor, v: Tensor
        if newKeys.isAbstract || wholeBuffers {
            // The count is a value of the graph, so the new tokens are merged into whole
            // buffers; slots past the held tokens are hidden by the mask.
            let offsets = Tensor.arange(capacity) - filled
            let written = (offsets .>= 0).logicalAnd(offsets .< Double(count)).reshaped(to: [1, 1, capacity, 1])
            let rows = offsets.clamp(min: 0, max: Double(count - 1))
            func merged(_ buffer: Tensor, _ new: Tensor) -> Tensor {
                // The held values are stored ones: no gradient reaches them (a traced read of a
                // buffer after an earlier assign in the same call is that assign's value).
                let result = Tensor.where(written, new.cast(to: dtype).indexSelect(axis: 2, index: rows), stopGradient(buffer))
                buffer.assign(result)
                return result
            }
            (k, v) = (merged(keys[layer], newKeys), merged(values[layer], newValues))
        } else {
            // Eager: written in place, and the held tokens' slots read as they are.
            let start = length
            func appended(_ buffer: Tensor, _ new: Tensor) -> Tensor {
                buffer.narrow(axis: 2, start: start, count: count).assign(new)
                return start == 0 ? new : Tensor.concatenate([buffer.narrow(axis: 2, start: 0, count: start), new.cast(to: dtype)], axis: 2)
            }
            (k, v) = (appended(keys[layer], newKeys), appended(values[layer], newValues))
        }
        let visible = Tensor.arange(k.shape[2]).unsqueezed(axis: 0) .<= positions(count: count).unsqueezed(axis: 1)
        return (k, v, visible)
    }

    /// The cache's tensors under the names of Hugging Face's ONNX exports, for exporters that
    /// make them a model's inputs and outputs: `past_key_values.N.key` and `.value` (each
    /// [batch, heads, capacity, headSize]) and `past_length` (int64 []). Allocated for `batch`
    /// sequences if not yet.
    public func namedTensors(batch: Int) -> [(name: String, tensor: Tensor)] {
        allocate(batch: batch)
        return (0..<layers).flatMap { layer in
            [("past_key_values.\(layer).key", keys[layer]), ("past_key_values.\(layer).value", values[layer])]
        } + [("past_length", filled)]
    }

    /// Counts `count` tokens appended to every layer.
    func advance(by count: Int) { filled.assign(filled + Double(count)) }
}
