/// One primitive's operands under `vmap`: the batched ones carry the batch axis in front,
/// the others are shared by every example.
struct BatchedOperands {
    let values: [Tensor]
    let batched: [Bool]
    /// The number of examples.
    let size: Int

    /// Operand i's shape in one example.
    func exampleShape(_ i: Int) -> [Int] {
        batched[i] ? Array(values[i].shape.dropFirst()) : values[i].shape
    }

    /// Operand i with the batch axis in front; a shared operand is repeated (a view).
    func materialized(_ i: Int) -> Tensor {
        let x = values[i]
        return batched[i] ? x : x.unsqueezed(axis: 0).expanded(to: [size] + x.shape)
    }

    /// Every operand with the batch axis in front.
    var allMaterialized: [Tensor] { values.indices.map(materialized) }

    /// Operand i ready to broadcast against batched values whose examples have rank `rank`:
    /// size-1 axes after the batch axis; a shared operand broadcasts as it is.
    func aligned(_ i: Int, rank: Int) -> Tensor {
        let example = exampleShape(i)
        guard batched[i] && example.count < rank else { return values[i] }
        return values[i].reshaped(to: [size] + Array(repeating: 1, count: rank - example.count) + example)
    }

    /// Every operand aligned to the highest example rank among them.
    func alignedForBroadcast() -> [Tensor] {
        let rank = values.indices.map { exampleShape($0).count }.max() ?? 0
        return values.indices.map { aligned($0, rank: rank) }
    }

    /// Operand i, [B, N, ...] after materializing, with the batch merged into the next axis:
    /// the examples' images as one larger batch of images.
    func foldedIntoFirstAxis(_ i: Int) -> Tensor {
        let x = materialized(i)
        return x.reshaped(to: [size * x.shape[1]] + Array(x.shape.dropFirst(2)))
    }

    /// Operand i, [B, N, C, ...] after materializing, as [N, B * C, ...]: each example's
    /// channels side by side, for per-example weights (groups) and statistics (channels).
    func foldedIntoChannels(_ i: Int) -> Tensor {
        let x = materialized(i)
        let swapped = x.permuted([1, 0] + Array(2..<x.rank))
        return swapped.reshaped(to: [x.shape[1], size * x.shape[2]] + Array(x.shape.dropFirst(3)))
    }

    /// Undoes `foldedIntoFirstAxis` for a result: [B * N, ...] -> [B, N, ...].
    func unfoldedFromFirstAxis(_ y: Tensor) -> Tensor {
        y.reshaped(to: [size, y.shape[0] / size] + Array(y.shape.dropFirst()))
    }

    /// Undoes `foldedIntoChannels` for a result: [N, B * C, ...] -> [B, N, C, ...].
    func unfoldedFromChannels(_ y: Tensor) -> Tensor {
        let split = y.reshaped(to: [y.shape[0], size, y.shape[1] / size] + Array(y.shape.dropFirst(2)))
        return split.permuted([1, 0] + Array(2..<split.rank))
    }
}
