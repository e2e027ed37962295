/// Masked fills and triangular parts, as selects: the gradient reaches the kept elements only.
extension Tensor {
    /// torch.masked_fill: `value` where the bool `mask` (broadcast to this shape) is true.
    public func maskedFill(_ mask: Tensor, with value: Double) -> Tensor {
        if mask.dtype != .bool { fatalError("maskedFill: the mask must be bool, got \(mask.dtype)") }
        if ShapeMath.broadcast(mask.shape, shape) != shape {
            fatalError("maskedFill: a mask of shape \(mask.shape) does not broadcast to \(shape)")
        }
        return Tensor.where(mask, Tensor.scalar(value, dtype: dtype, on: backend), self)
    }

    /// torch.triu: the elements of the last two axes on and above diagonal `diagonal`
    /// (0 the main one, positive above), zeros below.
    public func triu(diagonal: Int = 0) -> Tensor {
        keepingTriangle("triu") { row, column in column - row >= diagonal }
    }

    /// torch.tril: the elements of the last two axes on and below diagonal `diagonal`
    /// (0 the main one, positive above), zeros above.
    public func tril(diagonal: Int = 0) -> Tensor {
        keepingTriangle("tril") { row, column in column - row <= diagonal }
    }

    /// Keeps the elements of the last two axes where `keep(row, column)`; the mask is made on
    /// the host from the shape alone, so tracing sees it as a constant.
    private func keepingTriangle(_ op: String, _ keep: (Int, Int) -> Bool) -> Tensor {
        if rank < 2 { fatalError("\(op): expected a tensor of rank 2 or more, got shape \(shape)") }
        let rows = shape[rank - 2], columns = shape[rank - 1]
        let mask = (0..<rows * columns).map { keep($0 / columns, $0 % columns) }
        return Tensor.where(Tensor(mask, shape: [rows, columns], on: backend), self, Tensor.scalar(0, dtype: dtype, on: backend))
    }
}
