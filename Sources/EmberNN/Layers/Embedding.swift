import Ember

/// A lookup table of `numEmbeddings` vectors of size `embeddingDim`: integer indices of any
/// shape give [..., embeddingDim]. `weight` is drawn from N(0, 1) as PyTorch; the row at
/// `paddingIndex` starts at zero and receives no gradient (a pad token's vector stays fixed).
public final class Embedding: Module, Layer {
    @Parameter public var weight: Tensor
    public let numEmbeddings: Int
    public let embeddingDim: Int
    /// The padding row, counted from the front (a negative index given to `init` counts from the end).
    public let paddingIndex: Int?

    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIndex: Int? = nil, dtype: DType = .float32) {
        precondition(numEmbeddings > 0 && embeddingDim > 0,
                     "Embedding: numEmbeddings and embeddingDim must be positive, got \(numEmbeddings) and \(embeddingDim)")
        precondition(paddingIndex.map { (-numEmbeddings..<numEmbeddings).contains($0) } ?? true,
                     "Embedding(\(numEmbeddings), \(embeddingDim)): paddingIndex must be in -\(numEmbeddings)..<\(numEmbeddings), got \(paddingIndex!)")
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        self.paddingIndex = paddingIndex.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        let table = Initializer.normal().make([numEmbeddings, embeddingDim], dtype: dtype)
        if let row = self.paddingIndex { table.narrow(axis: 0, start: row, count: 1).assign(.scalar(0)) }
        weight = table
    }

    public func forward(_ indices: Tensor) -> Tensor {
        precondition(indices.dtype == .int64 || indices.dtype == .int32,
                     "Embedding(\(numEmbeddings), \(embeddingDim)): expected int64 or int32 indices, got \(indices.dtype)")
        // The lookup checks each index against the table when it runs (also in compiled code).
        let rows = weight.indexSelect(axis: 0, index: indices.flattened()).reshaped(to: indices.shape + [embeddingDim])
        // Also with gradients off: a compiled function traced now may be replayed with them on.
        guard let paddingIndex, weight.requiresGrad else { return rows }
        // The padding row's lookups pass through stopGradient, so they send no gradient to it;
        // `detached()` would stop the tape only, not a compiled replay.
        let isPadding = (indices .== Double(paddingIndex)).unsqueezed(axis: -1)
        return Tensor.where(isPadding, stopGradient(rows), rows)
    }
}
