import Foundation

/// Scaled-dot-product attention as one primitive: softmax(q kᵀ · scale + mask) v computed
/// in key blocks with an online softmax (FlashAttention), so that the [..., L, S] scores are
/// never held whole. The forward pass returns the per-row log-sum-exp beside the output; the
/// backward primitive recomputes each block's scores from it (FlashAttention-2's backward).
public struct AttentionConfig: Hashable, Sendable {
    /// The mask input, when there is one (the primitive's fourth input, or seventh for the backward).
    public enum Mask: Hashable, Sendable {
        case none
        /// bool, broadcast to [..., L, S]: true where the query attends to the key.
        case boolean
        /// The inputs' floating-point dtype, added to the scores.
        case additive
    }
    public var scale: Double
    /// Query i sees keys 0...i (PyTorch's top-left causal mask), combined with `mask`.
    public var isCausal: Bool
    public var mask: Mask
    public init(scale: Double, isCausal: Bool = false, mask: Mask = .none) {
        self.scale = scale
        self.isCausal = isCausal
        self.mask = mask
    }

    var hasMask: Bool { mask != .none }
    public var description: String { "scale: \(scale)\(isCausal ? ", causal" : "")\(mask == .none ? "" : ", mask: \(mask)")" }
}

/// Which computation `scaledDotProductAttention` runs (PyTorch's SDPA backends).
public enum AttentionKernel: Sendable {
    /// The fused kernel where the [..., L, S] scores would be large (more than
    /// `fusedScoreBytes`), the unfused formula elsewhere: its products run as oneDNN matmuls,
    /// several times faster than the fused kernel's blocks on this CPU, while the fused
    /// kernel's memory grows with L + S instead of L·S. The environment variable `EMBER_SDPA`
    /// (`math` or `fused`) chooses one everywhere instead.
    case automatic
    /// One fused primitive (FlashAttention's blocking and online softmax) that never holds the
    /// scores; half-precision inputs (autocast) are computed in float32.
    case fused
    /// The unfused formula (matmul, masked softmax, matmul), which holds the scores.
    case math

    /// Score bytes (float32, over the broadcast leading axes) above which `automatic` fuses.
    public static let fusedScoreBytes = 64 << 20
}

/// softmax(q kᵀ · scale + mask) v (PyTorch's `F.scaled_dot_product_attention`): query
/// [..., L, E], key [..., S, E], value [..., S, Ev], leading axes broadcast. A boolean `mask`
/// (broadcast to [..., L, S]) marks the pairs that take part (true); a floating-point one is
/// added to the scores. `isCausal` lets query i see keys 0...i. `scale` defaults to 1/√E. A
/// query that may attend to no key gives zeros. `kernel` chooses the fused primitive or the
/// unfused formula (see `AttentionKernel`); both give the same values and gradients.
public func scaledDotProductAttention(_ query: Tensor, _ key: Tensor, _ value: Tensor, mask: Tensor? = nil,
                                      isCausal: Bool = false, scale: Double? = nil,
                                      kernel: AttentionKernel = .automatic) -> Tensor {
    precondition(query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
                 "scaledDotProductAttention: expected query, key and value of rank 2 or more, found \(query.shape), \(key.shape), \(value.shape)")
    precondition(mask.map { $0.dtype == .bool || $0.dtype.isFloatingPoint } ?? true,
                 "scaledDotProductAttention: expected a bool or floating-point mask, found \(mask!.dtype)")
    let dtype = query.dtype
    let kind: AttentionConfig.Mask = mask.map { $0.dtype == .bool ? .boolean : .additive } ?? .none
    let config = AttentionConfig(scale: scale ?? 1 / Double(query.shape[query.rank - 1]).squareRoot(), isCausal: isCausal,
                                 mask: kind)
    var inputs = [query, key.cast(to: dtype), value.cast(to: dtype)]
    if let mask { inputs.append(kind == .boolean ? mask : mask.cast(to: dtype)) }
    if Attention.fuses(kernel, query.shape, key.shape) { return Dispatch.run(.attention(config), inputs)[0] }
    let wide = inputs.map { $0.dtype.isHalf ? $0.cast(to: .float32) : $0 }
    return Attention.unfused(config, wide)[0].cast(to: dtype)
}

enum Attention {
    /// `EMBER_SDPA=math` or `fused`: the kernel `automatic` stands for everywhere.
    static let requested: AttentionKernel? = {
        switch ProcessInfo.processInfo.environment["EMBER_SDPA"] {
        case "math": return .math
        case "fused": return .fused
        default: return nil
        }
    }()

    /// Whether the public function runs the fused primitive for these shapes.
    static func fuses(_ kernel: AttentionKernel, _ query: [Int], _ key: [Int]) -> Bool {
        switch kernel == .automatic ? requested ?? .automatic : kernel {
        case .fused: return true
        case .math: return false
        case .automatic:
            let leading = ShapeMath.broadcast(Array(query.dropLast(2)), Array(key.dropLast(2))) ?? Array(query.dropLast(2))
            let rows = Double(leading.reduce(1, *)) * Double(query[query.count - 2])
            let scoreBytes: Double = rows * Double(key[key.count - 2]) * 4
            return scoreBytes > Double(AttentionKernel.fusedScoreBytes)
        }
    }

    // MARK: Shape rules

    /// The broadcast batch shape and (L, S, E, Ev) of q, k, v and the optional mask.
    static func geometry(_ op: String, _ config: AttentionConfig, _ q: TensorSpec, _ k: TensorSpec, _ v: TensorSpec,
                         _ mask: TensorSpec?) throws(ShapeError) -> (batch: [Int], l: Int, s: Int, e: Int, ev: Int) {
        guard q.shape.count >= 2, k.shape.count >= 2, v.shape.count >= 2 else {
            throw ShapeError(op, "expected query, key and value of rank 2 or more, got \(q), \(k), \(v)")
        }
        guard q.dtype.isFloatingPoint else { throw ShapeError(op, "expected a floating-point query, got \(q.dtype)") }
        try Elementwise.sameDType(op, q, k)
        try Elementwise.sameDType(op, q, v)
        let l = q.shape[q.shape.count - 2], e = q.shape.last!, s = k.shape[k.shape.count - 2], ev = v.shape.last!
        guard k.shape.last! == e, v.shape[v.shape.count - 2] == s else {
            throw ShapeError(op, "expected key [..., S, \(e)] and value [..., S, Ev] for query \(q.shape), got \(k.shape) and \(v.shape)")
        }
        var batch = Array(q.shape.dropLast(2))
        for other in [k.shape, v.shape] {
            guard let b = ShapeMath.broadcast(batch, Array(other.dropLast(2))) else {
                throw ShapeError(op, "the leading axes of \(q.shape), \(k.shape) and \(v.shape) do not broadcast")
            }
            batch = b
        }
        if config.hasMask != (mask != nil) { throw ShapeError(op, "the configuration (\(config.description)) and the inputs disagree on a mask") }
        if let mask {
            let expected: DType = config.mask == .boolean ? .bool : q.dtype
            guard mask.dtype == expected else { throw ShapeError(op, "expected a \(expected) mask, got \(mask.dtype)") }
            let shape = Array(repeating: 1, count: max(0, 2 - mask.shape.count)) + mask.shape
            guard let full = ShapeMath.broadcast(batch + [l, s], shape), full.suffix(2) == [l, s] else {
                throw ShapeError(op, "the mask \(mask.shape) does not broadcast to the scores \(batch + [l, s])")
            }
            batch = Array(full.dropLast(2))
        }
        return (batch, l, s, e, ev)
    }

    /// Inputs (q, k, v[, mask]) -> (output [..., L, Ev], logsumexp [..., L]).
    static func attentionSpecs(_ config: AttentionConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let count = config.hasMask ? 4 : 3
        guard inputs.count == count else { throw ShapeError("attention", "expected \(count) inputs, got \(inputs.count)") }
        let g = try geometry("attention", config, inputs[0], inputs[1], inputs[2], config.hasMask ? inputs[3] : nil)
        let dtype = inputs[0].dtype
        return [TensorSpec(g.batch + [g.l, g.ev], dtype), TensorSpec(g.batch + [g.l], dtype)]
    }

    /// Inputs (q, k, v, logsumexp, delta, gradOutput[, mask]) -> (gradQ, gradK, gradV) at the
    /// broadcast batch shape; delta is rowsum(gradOutput · output) less the logsumexp's cotangent.
    static func backwardSpecs(_ config: AttentionConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let op = "attention_backward", count = config.hasMask ? 7 : 6
        guard inputs.count == count else { throw ShapeError(op, "expected \(count) inputs, got \(inputs.count)") }
        let g = try geometry(op, config, inputs[0], inputs[1], inputs[2], config.hasMask ? inputs[6] : nil)
        let dtype = inputs[0].dtype
        let rows = TensorSpec(g.batch + [g.l], dtype)
        guard inputs[3] == rows, inputs[4] == rows else {
            throw ShapeError(op, "expected logsumexp and delta \(rows), got \(inputs[3]) and \(inputs[4])")
        }
        guard inputs[5] == TensorSpec(g.batch + [g.l, g.ev], dtype) else {
            throw ShapeError(op, "expected an output gradient \(TensorSpec(g.batch + [g.l, g.ev], dtype)), got \(inputs[5])")
        }
        return [TensorSpec(g.batch + [g.l, g.e], dtype), TensorSpec(g.batch + [g.s, g.e], dtype),
                TensorSpec(g.batch + [g.s, g.ev], dtype)]
    }

    // MARK: The formula as tensor operations

    /// The scores q kᵀ · scale with the mask applied: the [..., L, S] tensor the kernels avoid.
    static func maskedScores(_ config: AttentionConfig, _ q: Tensor, _ k: Tensor, _ mask: Tensor?) -> Tensor {
        var scores = matmul(q * config.scale, k.transposed())
        let l = q.shape[q.rank - 2], s = k.shape[k.rank - 2]
        let negativeInfinity = Tensor.scalar(-Double.infinity, dtype: scores.dtype)
        if let mask { scores = config.mask == .boolean ? Tensor.where(mask, scores, negativeInfinity) : scores + mask }
        if config.isCausal {
            let later = Tensor.arange(s).unsqueezed(axis: 0) .> Tensor.arange(l).unsqueezed(axis: 1)
            scores = Tensor.where(later, negativeInfinity, scores)
        }
        return scores
    }

    /// (output, logsumexp) one primitive at a time: the reference the kernel must match, and
    /// what the higher-order and forward-mode rules differentiate. A row with no visible key
    /// gives zeros and a logsumexp of -inf.
    static func unfused(_ config: AttentionConfig, _ inputs: [Tensor]) -> [Tensor] {
        let scores = maskedScores(config, inputs[0], inputs[1], config.hasMask ? inputs[3] : nil)
        let zero = Tensor.scalar(0, dtype: scores.dtype), one = Tensor.scalar(1, dtype: scores.dtype)
        // The softmax is invariant to the shift, so no derivative needs to flow through it.
        let rowMax = stopGradient(scores.max(axis: -1, keepDims: true))
        let shift = Tensor.where(rowMax .== -Double.infinity, zero, rowMax)
        let e = (scores - shift).exp()
        let total = e.sum(axis: -1, keepDims: true)
        let output = matmul(e / Tensor.where(total .== 0, one, total), inputs[2])
        return [output, (shift + total.log()).squeezed(axis: -1)]
    }

    /// The backward primitive's results as tensor operations (for its forward-mode rule).
    static func unfusedBackward(_ config: AttentionConfig, _ inputs: [Tensor]) -> [Tensor] {
        let (q, k, v, lse, delta, gy) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5])
        let scores = maskedScores(config, q, k, config.hasMask ? inputs[6] : nil)
        let zero = Tensor.scalar(0, dtype: scores.dtype)
        let rowLSE = lse.unsqueezed(axis: -1)
        // exp(-inf - -inf) is nan: rows that saw no key have zero probabilities.
        let p = Tensor.where(rowLSE .== -Double.infinity, zero, (scores - Tensor.where(rowLSE .== -Double.infinity, zero, rowLSE)).exp())
        let gradScores = p * (matmul(gy, v.transposed()) - delta.unsqueezed(axis: -1)) * config.scale
        // The scores carry the broadcast batch shape, and so do the three products.
        return [matmul(gradScores, k), matmul(gradScores.transposed(), q), matmul(p.transposed(), gy)]
    }

    // MARK: Derivative rules

    /// Inputs (q, k, v[, mask]); saved (output, logsumexp). A first-order pass runs the fused
    /// backward primitive; while recording (higher derivatives), or when a floating-point
    /// mask wants its gradient (which is the [..., L, S] score gradient), the formula's.
    static func vjp(_ config: AttentionConfig, _ inputs: [Tensor], _ saved: [Tensor], _ g: [Tensor?], _ needed: [Bool]) -> [Tensor?] {
        let maskNeeded = config.mask == .additive && needed[3]
        if isGradEnabled || maskNeeded {
            return FunctionalAD.formulaVJP({ unfused(config, $0) }, inputs, g, needed)
        }
        let (output, lse) = (saved[0], saved[1])
        let gy = g[0] ?? Tensor.zeros(output.shape, dtype: output.dtype)
        // d logsumexp_i / d score_ij = p_ij: the logsumexp's cotangent joins the row term.
        var delta = (gy * output).sum(axis: -1)
        if let glse = g[1] { delta = delta - glse }
        var arguments = Array(inputs.prefix(3)) + [lse, delta, gy]
        if config.hasMask { arguments.append(inputs[3]) }
        let grads = Dispatch.run(.attentionBackward(config), arguments)
        var result: [Tensor?] = (0..<3).map { needed[$0] ? grads[$0].sum(toShape: inputs[$0].shape) : nil }
        if config.hasMask { result.append(nil) }
        return result
    }

    /// The backward primitive runs only in first-order passes (see `vjp`), so it is never
    /// recorded for differentiation.
    static func backwardOfBackward() -> [Tensor?] {
        fatalError("attention_backward is not differentiable; differentiate with createGraph so that the attention formula is recorded instead")
    }

    // MARK: Forward mode and batching

    /// The formula's tangents (forward mode materializes the [..., L, S] scores).
    static func jvp(_ config: AttentionConfig, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        Ember.jvp({ unfused(config, $0) }, primals: x, tangents: Tangents.zeroFilled(x, t)).tangents
    }

    static func backwardJVP(_ config: AttentionConfig, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        Ember.jvp({ unfusedBackward(config, $0) }, primals: x, tangents: Tangents.zeroFilled(x, t)).tangents
    }

    /// The leading axes broadcast, so the examples are one more leading axis. Each batched
    /// operand gets size-1 axes after the batch axis up to the most leading axes of any operand
    /// (q, k, v, the gradient and the mask end in two axes of their own, the logsumexp and delta
    /// in one). The backward primitive's row statistics and gradient fix its result's batch
    /// shape, so they and q carry the batch axis even when shared.
    static func batch(_ primitive: Primitive, _ x: BatchedOperands) -> [Tensor] {
        let isBackward: Bool
        if case .attentionBackward = primitive { isBackward = true } else { isBackward = false }
        let own = x.values.indices.map { i in isBackward && (i == 3 || i == 4) ? 1 : min(2, x.exampleShape(i).count) }
        let lead = x.values.indices.map { x.exampleShape($0).count - own[$0] }.max() ?? 0
        let operands = x.values.indices.map { i -> Tensor in
            let example = x.exampleShape(i)
            let carries = x.batched[i] || (isBackward && [0, 3, 4, 5].contains(i))
            guard carries else { return x.values[i] }
            let ones = [Int](repeating: 1, count: lead - (example.count - own[i]))
            return x.materialized(i).reshaped(to: [x.size] + ones + example)
        }
        return Dispatch.run(primitive, operands)
    }

    // MARK: ONNX

    /// ONNX has no attention operator before opset 23: MatMul, Softmax's parts and MatMul,
    /// with the same guard for rows that see no key (zeros, logsumexp -inf).
    static func onnx(_ config: AttentionConfig, _ b: ONNXBuilder, _ x: ONNXOperands) -> [String] {
        let dtype = x.inputs[0].dtype
        let (q, k, v) = (x.names[0], x.names[1], x.names[2])
        let kRank = x.inputs[1].shape.count
        let kT = b.node("Transpose", [k], [ONNXAttribute("perm", .ints(Array(0..<(kRank - 2)) + [kRank - 1, kRank - 2]))], outputs: 1)[0]
        let scaled = b.node("Mul", [q, b.scalar(config.scale, dtype)], [], outputs: 1)[0]
        var scores = b.node("MatMul", [scaled, kT], [], outputs: 1)[0]
        let negativeInfinity = b.scalar(-Double.infinity, dtype), zero = b.scalar(0, dtype), one = b.scalar(1, dtype)
        if config.hasMask {
            let mask = x.names[3]
            scores = config.mask == .boolean ? b.node("Where", [mask, scores, negativeInfinity], [], outputs: 1)[0]
                : b.node("Add", [scores, mask], [], outputs: 1)[0]
        }
        if config.isCausal {
            // later[i, j] = j > i from the traced (possibly dynamic) L and S.
            func range(_ input: Int, _ axis: Int) -> String {
                let shape = b.node("Shape", [x.names[input]], [], outputs: 1)[0]
                let length = b.node("Gather", [shape, b.int64s([axis])], [ONNXAttribute("axis", .int(0))], outputs: 1)[0]
                let scalar = b.node("Squeeze", [length, b.int64s([0])], [], outputs: 1)[0]
                return b.node("Range", [b.scalar(0, .int64), scalar, b.scalar(1, .int64)], [], outputs: 1)[0]
            }
            let rows = b.node("Unsqueeze", [range(0, x.inputs[0].shape.count - 2), b.int64s([1])], [], outputs: 1)[0]
            let later = b.node("Greater", [range(1, kRank - 2), rows], [], outputs: 1)[0]
            scores = b.node("Where", [later, negativeInfinity, scores], [], outputs: 1)[0]
        }
        let keep = ONNXAttribute("keepdims", .int(1))
        let rowMax = b.opset >= 18 ? b.node("ReduceMax", [scores, b.int64s([-1])], [keep], outputs: 1)[0]
            : b.node("ReduceMax", [scores], [ONNXAttribute("axes", .ints([-1])), keep], outputs: 1)[0]
        let noKey = b.node("Equal", [rowMax, negativeInfinity], [], outputs: 1)[0]
        let shift = b.node("Where", [noKey, zero, rowMax], [], outputs: 1)[0]
        let e = b.node("Exp", [b.node("Sub", [scores, shift], [], outputs: 1)[0]], [], outputs: 1)[0]
        let total = b.node("ReduceSum", [e, b.int64s([-1])], [keep], outputs: 1)[0]
        let empty = b.node("Equal", [total, zero], [], outputs: 1)[0]
        let weights = b.node("Div", [e, b.node("Where", [empty, one, total], [], outputs: 1)[0]], [], outputs: 1)[0]
        let output = b.node("MatMul", [weights, v], [], outputs: 1)[0]
        let lse = b.node("Add", [shift, b.node("Log", [total], [], outputs: 1)[0]], [], outputs: 1)[0]
        return [output, b.node("Squeeze", [lse, b.int64s([-1])], [], outputs: 1)[0]]
    }
}
