import Ember
import EmberNN

/// The classic PyTorch `SelfAttention(embed_size, heads)` tutorial module, written with
/// einsum: the input is split into heads, each head dimension projected by one `Linear`
/// shared by the heads, and the heads merged by `fcOut`. State keys are PyTorch's
/// (`values.weight`, ..., `fc_out.bias`), so its state dict loads as is.
public final class SimpleAttention: Module {
    public let values: Linear
    public let keys: Linear
    public let queries: Linear
    public let fcOut: Linear
    public let embedSize: Int
    public let heads: Int
    public let headDim: Int

    public init(embedSize: Int, heads: Int, dtype: DType = .float32) {
        precondition(embedSize % heads == 0, "SimpleAttention: embedSize \(embedSize) must be a multiple of heads \(heads)")
        self.embedSize = embedSize
        self.heads = heads
        headDim = embedSize / heads
        values = Linear(headDim, headDim, bias: false, dtype: dtype)
        keys = Linear(headDim, headDim, bias: false, dtype: dtype)
        queries = Linear(headDim, headDim, bias: false, dtype: dtype)
        fcOut = Linear(heads * headDim, embedSize, dtype: dtype)
    }

    /// values, keys, query: [N, length, embedSize]; `mask` (broadcast to [N, heads, query
    /// length, key length]) is 0 where a query may not see a key.
    public func callAsFunction(values: Tensor, keys: Tensor, query: Tensor, mask: Tensor?) -> Tensor {
        recordingCall {
            let n = query.shape[0], queryLength = query.shape[1]
            let v = self.values(values.reshaped(to: [n, values.shape[1], heads, headDim]))
            let k = self.keys(keys.reshaped(to: [n, keys.shape[1], heads, headDim]))
            let q = queries(query.reshaped(to: [n, queryLength, heads, headDim]))
            var energy = einsum("nqhd,nkhd->nhqk", q, k)
            if let mask { energy = energy.maskedFill(mask .== 0, with: -1e20) }
            let attention = (energy / Double(embedSize).squareRoot()).softmax(axis: 3)
            let out = einsum("nhql,nlhd->nqhd", attention, v).reshaped(to: [n, queryLength, heads * headDim])
            return fcOut(out)
        }
    }
}
