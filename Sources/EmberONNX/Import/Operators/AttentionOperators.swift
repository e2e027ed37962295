import Ember

/// ONNX's Attention (opset 23): scaled dot-product attention over 4-D [batch, heads, sequence,
/// head size] or 3-D [batch, sequence, hidden] inputs, with a key-value cache, boolean or
/// additive masks, causal and sliding-window masking, grouped-query heads and soft-capping,
/// following the ONNX reference implementation step by step (rows that every key is masked
/// from give zeros, not NaN).
enum ONNXAttentionOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("Attention", since: 23) { context in try attention(context) },
    ]

    private static func attention(_ context: ONNXNodeContext) throws -> [Tensor] {
        var q = try context.input(0), k = try context.input(1), v = try context.input(2)
        // 16-bit inputs are computed in float32 (the sums of products and the softmax lose
        // too much in float16), and the results rounded back.
        let dtype = q.dtype
        let working: DType = dtype == .float16 || dtype == .bfloat16 ? .float32 : dtype
        (q, k, v) = (q.cast(to: working), k.cast(to: working), v.cast(to: working))
        guard q.rank == k.rank, k.rank == v.rank, q.rank == 3 || q.rank == 4 else {
            throw context.fail("Q, K and V must all be 3-D or all 4-D, got shapes \(q.shape), \(k.shape), \(v.shape)")
        }
        let threeD = q.rank == 3
        if threeD {
            let qHeads = context.int("q_num_heads", 0), kvHeads = context.int("kv_num_heads", 0)
            guard qHeads > 0, kvHeads > 0 else { throw context.fail("3-D inputs need q_num_heads and kv_num_heads") }
            q = try heads(q, qHeads, context)
            k = try heads(k, kvHeads, context)
            v = try heads(v, kvHeads, context)
        }
        guard q.shape[0] == k.shape[0], k.shape[0] == v.shape[0], k.shape[2] == v.shape[2], q.shape[3] == k.shape[3] else {
            throw context.fail("Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree in batch, sequence or head size")
        }
        let batch = q.shape[0]
        let scale = context.has("scale") ? context.float("scale", 1) : 1 / Double(q.shape[3]).squareRoot()

        let pastKey = context.optionalInput(4), pastValue = context.optionalInput(5)
        guard (pastKey == nil) == (pastValue == nil) else { throw context.fail("past_key and past_value must be given together") }
        let pastLength = pastKey?.shape[2] ?? 0
        if let pastKey, let pastValue {
            k = Tensor.concatenate([pastKey.cast(to: working), k], axis: 2)
            v = Tensor.concatenate([pastValue.cast(to: working), v], axis: 2)
        }
        let presentKey = k.cast(to: dtype), presentValue = v.cast(to: dtype)
        let queries = q.shape[2], keys = k.shape[2]

        // The additive bias: 0 where a query may attend a key, -inf where it may not.
        let negativeInfinity = Tensor.full([], -.infinity, dtype: working), zero = Tensor.zeros([], dtype: working)
        var bias = Tensor.zeros([queries, keys], dtype: working)
        if var mask = context.optionalInput(3) {
            let short = keys - (mask.shape.last ?? keys)
            if short > 0 {
                var padding = Array(repeating: Padding(0, 0), count: mask.rank)
                padding[mask.rank - 1] = Padding(0, short)
                mask = mask.dtype == .bool ? mask.padded(padding, value: 0) : mask.padded(padding, value: -.infinity)
            }
            bias = bias + (mask.dtype == .bool ? Tensor.where(mask, zero, negativeInfinity) : mask.cast(to: working))
        }
        let nonpad = context.optionalInput(6)
        guard nonpad == nil || pastKey == nil else { throw context.fail("nonpad_kv_seqlen cannot be combined with past_key and past_value") }
        // Query i sits at position offset + i among the keys: after the cache, or where each
        // batch's valid keys end (nonpad_kv_seqlen).
        let position: Tensor = {
            let rows = Tensor((0..<queries).map { Int64($0) }, shape: [queries, 1])
            guard let nonpad else { return rows + Double(pastLength) }
            return rows + (nonpad.cast(to: .int64) - Double(queries)).reshaped(to: [batch, 1, 1, 1])
        }()
        let columns = Tensor((0..<keys).map { Int64($0) }, shape: [1, keys])
        if context.int("is_causal", 0) != 0 {
            bias = bias + Tensor.where(columns .<= position, zero, negativeInfinity)
        }
        let left = context.int("left_window_size", -1), right = context.int("right_window_size", -1)
        if left >= 0 { bias = bias + Tensor.where(position - columns .<= Double(left), zero, negativeInfinity) }
        if right >= 0 { bias = bias + Tensor.where(columns - position .<= Double(right), zero, negativeInfinity) }
        if let nonpad {
            let valid = columns.reshaped(to: [1, 1, 1, keys]) .< nonpad.cast(to: .int64).reshaped(to: [batch, 1, 1, 1])
            bias = bias + Tensor.where(valid, zero, negativeInfinity)
        }

        // Grouped-query attention: each key-value head serves a run of query heads.
        let qHeads = q.shape[1], kvHeads = k.shape[1]
        if qHeads != kvHeads {
            guard kvHeads > 0, qHeads % kvHeads == 0, v.shape[1] == kvHeads else {
                throw context.fail("\(qHeads) query heads cannot share \(kvHeads) key-value heads")
            }
            k = repeatHeads(k, qHeads / kvHeads)
            v = repeatHeads(v, qHeads / kvHeads)
        }

        var scores = matmul(q, k.transposed(2, 3)) * scale
        let softcap = context.float("softcap", 0)
        if softcap > 0 { scores = (scores / softcap).tanh() * softcap }
        var withBias = scores + bias
        let mode = context.int("qk_matmul_output_mode", 0)
        guard (0...3).contains(mode) else { throw context.fail("qk_matmul_output_mode \(mode) is not 0, 1, 2 or 3") }
        let qkOutputBeforeSoftmax = mode == 2 ? withBias : scores
        if context.has("softmax_precision") {
            let code = Int32(context.int("softmax_precision", 1))
            guard let precision = ONNXElementType.dtype(code), precision.isFloatingPoint else {
                throw context.fail("softmax_precision \(ONNXElementType.name(code)) is not a floating-point type")
            }
            withBias = withBias.cast(to: precision)
        }
        // A row whose every key is masked attends nothing: zeros, where softmax would give NaN.
        let rowMax = withBias.max(axes: [withBias.rank - 1], keepDims: true)
        let safe = Tensor.where(rowMax .== -Double.infinity, Tensor.zeros([], dtype: withBias.dtype), rowMax)
        let exponentials = (withBias - safe).exp()
        let sums = exponentials.sum(axes: [withBias.rank - 1], keepDims: true)
        var probabilities = exponentials / Tensor.where(sums .== 0, Tensor.ones([], dtype: sums.dtype), sums)
        let biasMax = bias.max(axes: [bias.rank - 1], keepDims: true)
        probabilities = Tensor.where(biasMax .== -Double.infinity, Tensor.zeros([], dtype: probabilities.dtype), probabilities).cast(to: working)

        var y = matmul(probabilities, v).cast(to: dtype)
        if threeD {
            y = y.permuted(0, 2, 1, 3)
            y = y.reshaped(to: [y.shape[0], y.shape[1], y.shape[2] * y.shape[3]])
        }
        let qkOutput = (mode == 3 ? probabilities : qkOutputBeforeSoftmax).cast(to: dtype)
        return [y, presentKey, presentValue, qkOutput]
    }

    /// [batch, sequence, heads * size] as [batch, heads, sequence, size].
    private static func heads(_ x: Tensor, _ count: Int, _ context: ONNXNodeContext) throws -> Tensor {
        guard x.shape[2] % count == 0 else { throw context.fail("hidden size \(x.shape[2]) does not split into \(count) heads") }
        return x.reshaped(to: [x.shape[0], x.shape[1], count, x.shape[2] / count]).permuted(0, 2, 1, 3)
    }

    /// Each head repeated `times` in a row along axis 1 (NumPy's repeat).
    static func repeatHeads(_ x: Tensor, _ times: Int) -> Tensor {
        let s = x.shape
        return x.unsqueezed(axis: 2).expanded(to: [s[0], s[1], times, s[2], s[3]]).reshaped(to: [s[0], s[1] * times, s[2], s[3]])
    }
}
