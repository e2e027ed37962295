import Ember

/// Operators of recent language-model blocks (opsets 23 to 27): rotary position embeddings,
/// SwiGLU, the causal depthwise convolution of state-space models and linear attention, each as Ember
/// operations (differentiable in their floating-point inputs).
enum ONNXLanguageModelOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("RotaryEmbedding", since: 23) { context in [try rotaryEmbedding(context)] },
        ONNXOperator("SwiGLU", since: 1) { context in
            let a = try context.input(0), b = try context.input(1)
            guard a.shape == b.shape else { throw context.fail("A \(a.shape) and B \(b.shape) must have the same shape") }
            let alpha = context.float("alpha", 1)
            return [a * (a * alpha).sigmoid() * b]
        },
        ONNXOperator("CausalConvWithState", since: 1) { context in try causalConvolution(context) },
        ONNXOperator("LinearAttention", since: 1) { context in try linearAttention(context) },
    ]

    /// Rotates pairs of features by position: (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos),
    /// pairs taken as halves or (interleaved) as neighbours, over the first rotary_embedding_dim.
    private static func rotaryEmbedding(_ context: ONNXNodeContext) throws -> Tensor {
        let input = try context.input(0)
        var cos = try context.input(1), sin = try context.input(2)
        var x: Tensor
        switch input.rank {
        case 4: x = input.permuted(0, 2, 1, 3)
        case 3:
            let heads = context.int("num_heads", 0)
            guard heads > 0, input.shape[2] % heads == 0 else {
                throw context.fail("3-D input \(input.shape) needs num_heads dividing its hidden size")
            }
            x = input.reshaped(to: [input.shape[0], input.shape[1], heads, input.shape[2] / heads])
        default: throw context.fail("input must be 3-D or 4-D, got shape \(input.shape)")
        }
        let (batch, length, heads, size) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rotated = context.int("rotary_embedding_dim", 0) == 0 ? size : context.int("rotary_embedding_dim", 0)
        guard rotated % 2 == 0, rotated <= size else { throw context.fail("rotary_embedding_dim \(rotated) must be even and at most the head size \(size)") }
        let half = rotated / 2
        if let positions = context.optionalInput(3) {
            let index = positions.cast(to: .int64).reshaped(to: [positions.count])
            cos = cos.indexSelect(axis: 0, index: index).reshaped(to: [batch, length, half])
            sin = sin.indexSelect(axis: 0, index: index).reshaped(to: [batch, length, half])
        }
        guard cos.shape == [batch, length, half], sin.shape == cos.shape else {
            throw context.fail("cos and sin caches of shapes \(cos.shape), \(sin.shape) must be [\(batch), \(length), \(half)] (after position_ids)")
        }
        cos = cos.unsqueezed(axis: 2).cast(to: x.dtype)
        sin = sin.unsqueezed(axis: 2).cast(to: x.dtype)
        let part = x.narrow(axis: 3, start: 0, count: rotated)
        let interleaved = context.int("interleaved", 0) != 0
        let x1: Tensor, x2: Tensor
        if interleaved {
            let pairs = part.reshaped(to: [batch, length, heads, half, 2])
            x1 = pairs.narrow(axis: 4, start: 0, count: 1).squeezed(axis: 4)
            x2 = pairs.narrow(axis: 4, start: 1, count: 1).squeezed(axis: 4)
        } else {
            x1 = part.narrow(axis: 3, start: 0, count: half)
            x2 = part.narrow(axis: 3, start: half, count: half)
        }
        let real = cos * x1 - sin * x2, imaginary = sin * x1 + cos * x2
        var y = interleaved
            ? Tensor.concatenate([real.unsqueezed(axis: 4), imaginary.unsqueezed(axis: 4)], axis: 4).reshaped(to: [batch, length, heads, rotated])
            : Tensor.concatenate([real, imaginary], axis: 3)
        if rotated < size { y = Tensor.concatenate([y, x.narrow(axis: 3, start: rotated, count: size - rotated)], axis: 3) }
        return input.rank == 3 ? y.reshaped(to: input.shape) : y.permuted(0, 2, 1, 3)
    }

    /// A depthwise causal 1-D convolution that carries its last k - 1 inputs as state:
    /// [past_state, input] convolved with weight [channels, 1, k]; outputs y and the new state.
    private static func causalConvolution(_ context: ONNXNodeContext) throws -> [Tensor] {
        // 16-bit inputs are computed in float32, as the reference computes the activation.
        let input = try context.input(0)
        let working: DType = input.dtype == .float16 || input.dtype == .bfloat16 ? .float32 : input.dtype
        let x = input.cast(to: working), weight = try context.input(1).cast(to: working)
        guard x.rank == 3, weight.rank == 3, weight.shape[0] == x.shape[1], weight.shape[1] == 1, weight.shape[2] >= 1 else {
            throw context.fail("input [batch, channels, length] and weight [channels, 1, k] expected, got \(x.shape) and \(weight.shape)")
        }
        let (batch, channels, length, k) = (x.shape[0], x.shape[1], x.shape[2], weight.shape[2])
        let past = context.optionalInput(3)?.cast(to: working) ?? Tensor.zeros([batch, channels, k - 1], dtype: working)
        guard past.shape == [batch, channels, k - 1] else { throw context.fail("past_state must be [\(batch), \(channels), \(k - 1)], got \(past.shape)") }
        let padded = Tensor.concatenate([past, x], axis: 2)
        var y = Tensor.zeros([batch, channels, length], dtype: x.dtype)
        for tap in 0..<k {
            y = y + padded.narrow(axis: 2, start: tap, count: length) * weight.narrow(axis: 2, start: tap, count: 1).reshaped(to: [1, channels, 1])
        }
        if let bias = context.optionalInput(2) { y = y + bias.cast(to: working).reshaped(to: [1, channels, 1]) }
        switch context.string("activation", "none") {
        case "none": break
        case "silu", "swish": y = y * y.sigmoid()
        case let other: throw context.fail("activation '\(other)' is not none, silu or swish")
        }
        return [y.cast(to: input.dtype), padded.narrow(axis: 2, start: length, count: k - 1).cast(to: input.dtype)]
    }

    /// Linear attention (opset 27) as a recurrence over time: a state S [batch, kv heads, d_k,
    /// d_v] decays (gated rules: by exp(decay)), is corrected toward the value (delta rules:
    /// v <- beta (v - S^T k)), gains k v^T, and is read by each query: y = scale q^T S.
    /// Computed in float32 as the reference is.
    private static func linearAttention(_ context: ONNXNodeContext) throws -> [Tensor] {
        let rule = context.string("update_rule", "gated_delta")
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else {
            throw context.fail("update_rule '\(rule)' is not linear, gated, delta or gated_delta")
        }
        let qHeads = context.int("q_num_heads", 0), kvHeads = context.int("kv_num_heads", 0)
        guard qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0 else {
            throw context.fail("q_num_heads \(qHeads) must be a positive multiple of kv_num_heads \(kvHeads)")
        }
        let query = try context.input(0), key = try context.input(1), value = try context.input(2)
        guard query.rank == 3, key.rank == 3, value.rank == 3, query.shape[2] % qHeads == 0, key.shape[2] % kvHeads == 0,
              value.shape[2] % kvHeads == 0, key.shape[0] == query.shape[0], key.shape[1] == query.shape[1] else {
            throw context.fail("query, key and value must be [batch, time, heads * size], got \(query.shape), \(key.shape), \(value.shape)")
        }
        let gated = rule.hasPrefix("gated"), delta = rule.hasSuffix("delta")
        let decay = context.optionalInput(4), beta = context.optionalInput(5)
        guard (decay != nil) == gated, (beta != nil) == delta else {
            throw context.fail("update_rule '\(rule)' \(gated ? "needs" : "forbids") decay and \(delta ? "needs" : "forbids") beta")
        }
        let (batch, time) = (query.shape[0], query.shape[1])
        let dk = query.shape[2] / qHeads, dv = value.shape[2] / kvHeads
        func split(_ x: Tensor, _ heads: Int) -> Tensor {
            x.cast(to: .float32).reshaped(to: [x.shape[0], x.shape[1], heads, x.shape[2] / heads]).permuted(0, 2, 1, 3)
        }
        let q = split(query, qHeads), k = split(key, kvHeads), v = split(value, kvHeads)
        let decays = try decay.map { d -> Tensor in
            guard d.rank == 3, d.shape[2] == kvHeads || d.shape[2] == kvHeads * dk else {
                throw context.fail("decay must be [batch, time, \(kvHeads) or \(kvHeads * dk)], got \(d.shape)")
            }
            return d.shape[2] == kvHeads ? d.cast(to: .float32).reshaped(to: [batch, time, kvHeads, 1]).permuted(0, 2, 1, 3) : split(d, kvHeads)
        }
        let betas = try beta.map { b -> Tensor in
            guard b.rank == 3, b.shape[2] == kvHeads || b.shape[2] == 1 else { throw context.fail("beta must be [batch, time, \(kvHeads) or 1], got \(b.shape)") }
            return b.cast(to: .float32).reshaped(to: [batch, time, b.shape[2], 1]).permuted(0, 2, 1, 3)
        }
        let past = context.optionalInput(3)
        var state = past?.cast(to: .float32) ?? Tensor.zeros([batch, kvHeads, dk, dv], dtype: .float32)
        guard state.shape == [batch, kvHeads, dk, dv] else { throw context.fail("past_state must be [\(batch), \(kvHeads), \(dk), \(dv)], got \(state.shape)") }
        let given = context.float("scale", 0)
        let scale = given == 0 ? 1 / Double(dk).squareRoot() : given
        func step(_ x: Tensor, _ t: Int) -> Tensor { x.narrow(axis: 2, start: t, count: 1).squeezed(axis: 2) }
        var outputs = [Tensor]()
        for t in 0..<time {
            let kt = step(k, t)
            var vt = step(v, t)
            if let decays { state = state * step(decays, t).exp().unsqueezed(axis: 3) }
            if let betas {
                let retrieved = matmul(kt.unsqueezed(axis: 2), state).squeezed(axis: 2)
                vt = step(betas, t) * (vt - retrieved)
            }
            state = state + kt.unsqueezed(axis: 3) * vt.unsqueezed(axis: 2)
            let read = qHeads == kvHeads ? state : ONNXAttentionOperators.repeatHeads(state, qHeads / kvHeads)
            outputs.append(matmul(step(q, t).unsqueezed(axis: 2), read).squeezed(axis: 2) * scale)
        }
        let y = Tensor.stack(outputs, axis: 2).permuted(0, 2, 1, 3).reshaped(to: [batch, time, qHeads * dv])
        return [y.cast(to: query.dtype), state.cast(to: past?.dtype ?? query.dtype)]
    }
}
