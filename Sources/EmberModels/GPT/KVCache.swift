import Ember

/// The keys and values that a `GPT`'s attention layers computed for the tokens seen so far,
/// so that the next tokens attend to them without recomputing them: each layer's keys and
/// values [batch, heads, length, headSize] grow along the length axis, and `length` is the
/// position the next token takes. Make one with `GPT.makeCache()`; it holds at most
/// `blockSize` tokens, one batch size, and belongs to the model that made it.
public final class KVCache {
    /// Number of tokens held, which is also the position of the next token.
    public private(set) var length = 0
    /// The most tokens the cache holds: the model's context length.
    public let capacity: Int
    let layers: Int
    private var keys: [Tensor?]
    private var values: [Tensor?]

    init(layers: Int, capacity: Int) {
        self.layers = layers
        self.capacity = capacity
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    /// The batch size of the tokens held, nil while empty.
    public var batchSize: Int? { keys[0]?.shape[0] }

    /// Forgets every token.
    public func reset() {
        length = 0
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    /// Layer `layer`'s keys and values with `newKeys` and `newValues` appended.
    func appending(layer: Int, keys newKeys: Tensor, values newValues: Tensor) -> (keys: Tensor, values: Tensor) {
        let k = keys[layer].map { Tensor.concatenate([$0, newKeys], axis: 2) } ?? newKeys
        let v = values[layer].map { Tensor.concatenate([$0, newValues], axis: 2) } ?? newValues
        keys[layer] = k
        values[layer] = v
        return (k, v)
    }

    /// Counts `count` tokens appended to every layer.
    func advance(by count: Int) { length += count }
}
