extension Primitive {
    /// The forward-mode derivative rule: the tangents of the outputs from the inputs, the
    /// outputs and the inputs' tangents (nil: zero, or not differentiable; at least one is
    /// given). Written with tensor operations, so a rule can be differentiated, traced and
    /// vectorized. A nil result is a zero tangent. Rules longer than a line live in the
    /// primitive's family file (Ops/).
    func jvp(_ x: [Tensor], _ y: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        switch self {
        // Elementwise derivatives are diagonal: the VJP rule applied to the tangent.
        case .unary(let op): return [Elementwise.unaryVJP(op, x[0], t[0]!)]
        case .binary(let op): return [Elementwise.binaryJVP(op, x, y[0], t)]
        case .compare, .argReduce, .randomBits, .argsort, .stopGradient: return [nil]
        case .select: return [Elementwise.selectJVP(x, y[0], t)]
        case .cast(let dtype): return [dtype.isFloatingPoint ? t[0]!.cast(to: dtype) : nil]
        case .reduce(let op, let axes, let keep): return [Reduction.reduceJVP(op, axes, keep, x[0], t[0]!)]
        // Linear in their one input.
        case .reshape, .permute, .expand, .slice, .flip, .copy, .avgPool2d, .avgPool2dBackward, .cumsum:
            return [Dispatch.run1(self, [t[0]!])]
        case .pad(let padding, _): return [Dispatch.run1(.pad(padding, value: 0), [t[0]!])]
        case .concat: return [Dispatch.run1(self, Tangents.zeroFilled(x, t))]
        // Linear in the values, constant in the indices.
        case .gather, .indexSelect: return [Dispatch.run1(self, [t[0]!, x[1]])]
        case .scatterAdd, .indexAdd:
            let filled = Tangents.zeroFilled(x, t)
            return [Dispatch.run1(self, [filled[0], x[1], filled[2]])]
        // Bilinear: the product rule.
        case .matmul, .conv2dBackwardInput, .conv2dBackwardWeight:
            return [Tangents.sum([t[0].map { Dispatch.run1(self, [$0, x[1]]) },
                                  t[1].map { Dispatch.run1(self, [x[0], $0]) }], y[0].shape)]
        case .conv2d(let c): return [Convolution.conv2dJVP(c, x, y[0], t)]
        // The tangent at each window's maximum (the VJP of the backward pass reads the same).
        case .maxPool2d(let c): return [Pooling.maxPoolBackwardVJP(c, x, t[0]!)[1]]
        // Linear in the output gradient, constant in x almost everywhere.
        case .maxPool2dBackward: return [t[1].map { Dispatch.run1(self, [x[0], $0]) }]
        case .batchNorm(let epsilon): return Normalization.batchNormJVP(epsilon, x, y, t)
        case .layerNorm(let axes, let epsilon): return Normalization.layerNormJVP(axes, epsilon, x, y, t)
        case .batchNormBackward(let epsilon): return Normalization.batchNormBackwardJVP(epsilon, x, t)
        case .layerNormBackward(let axes, let epsilon): return Normalization.layerNormBackwardJVP(axes, epsilon, x, t)
        case .attention(let c): return Attention.jvp(c, x, t)
        case .attentionBackward(let c): return Attention.backwardJVP(c, x, t)
        case .recurrence(let c): return Recurrence.jvp(c, x, t)
        case .recurrenceBackward(let c): return Recurrence.backwardJVP(c, x, t)
        case .custom(let function): return Custom.jvp(function, x, y, t)
        case .fused(let program): return Fused.jvp(program, x, t)
        }
    }
}

/// What forward-mode rules share.
enum Tangents {
    /// The given terms added, broadcast to `shape`; nil when there are none.
    static func sum(_ terms: [Tensor?], _ shape: [Int]) -> Tensor? {
        let present = terms.compactMap { $0 }
        guard let first = present.first else { return nil }
        return present.dropFirst().reduce(first, +).expanded(to: shape)
    }

    /// The tangents with zeros for the inputs that have none.
    static func zeroFilled(_ x: [Tensor], _ t: [Tensor?]) -> [Tensor] {
        zip(x, t).map { x, t in t ?? Tensor.zeros(x.shape, dtype: x.dtype) }
    }
}
