import Ember

extension Tensor {
    /// Each row (the last axis) divided by its Euclidean norm, or by 1e-12 when the norm is
    /// smaller (PyTorch's `F.normalize(x, dim=-1)`, sentence-transformers' `Normalize`).
    public func l2Normalized() -> Tensor {
        self / (self * self).sum(axis: -1, keepDims: true).sqrt().clamp(min: 1e-12)
    }
}

/// The cosine similarity of every row of `a` [n, dim] with every row of `b` [m, dim]: [n, m]
/// (sentence-transformers' `util.cos_sim`). Rows of zeros have similarity 0.
public func cosineSimilarity(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[1],
                 "cosineSimilarity: expected [n, dim] and [m, dim] with the same dim, found \(a.shape) and \(b.shape)")
    return matmul(a.l2Normalized(), b.l2Normalized().transposed())
}
