extension Primitive {
    /// The forward-mode derivative rule: the tangents of the outputs from the inputs, the
    /// outputs and the inputs' tangents (nil: zero, or not differentiable; at least one is
    /// given). Written with tensor operations, so a rule can be differentiated, traced and
    /// vectorized. A nil result is a zero tangent.
    func jvp(_ x: [Tensor], _ y: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        switch self {
        // Elementwise derivatives are diagonal: the VJP rule applied to the tangent.
        case .unary(let op): return [Elementwise.unaryVJP(op, x[0], t[0]!)]
        case .binary(let op): return [JVPRules.binary(op, x, y[0], t)]
        case .compare, .argReduce, .randomBits, .argsort, .stopGradient: return [nil]
        case .cumsum: return [Dispatch.run1(self, [t[0]!])]
        case .custom(let function): return Custom.jvp(function, x, t)
        case .select:
            let zero = Tensor.scalar(0, dtype: y[0].dtype)
            return [Dispatch.run1(.select, [x[0], t[1] ?? zero, t[2] ?? zero]).expanded(to: y[0].shape)]
        case .cast(let dtype): return [dtype.isFloatingPoint ? t[0]!.cast(to: dtype) : nil]
        case .reduce(let op, let axes, let keep): return [JVPRules.reduce(op, axes, keep, x[0], t[0]!)]
        // Linear in their one input.
        case .reshape, .permute, .expand, .slice, .flip, .copy, .avgPool2d, .avgPool2dBackward:
            return [Dispatch.run1(self, [t[0]!])]
        case .pad(let padding, _): return [Dispatch.run1(.pad(padding, value: 0), [t[0]!])]
        case .concat: return [Dispatch.run1(self, JVPRules.zeroFilled(x, t))]
        // Linear in the values, constant in the indices.
        case .gather, .indexSelect: return [Dispatch.run1(self, [t[0]!, x[1]])]
        case .scatterAdd, .indexAdd:
            let filled = JVPRules.zeroFilled(x, t)
            return [Dispatch.run1(self, [filled[0], x[1], filled[2]])]
        // Bilinear: the product rule.
        case .matmul, .conv2dBackwardInput, .conv2dBackwardWeight:
            return [JVPRules.sum([t[0].map { Dispatch.run1(self, [$0, x[1]]) },
                                  t[1].map { Dispatch.run1(self, [x[0], $0]) }], y[0].shape)]
        case .conv2d(let c): return [JVPRules.conv2d(c, x, y[0], t)]
        // The tangent at each window's maximum (the VJP of the backward pass reads the same).
        case .maxPool2d(let c): return [Pooling.maxPoolBackwardVJP(c, x, t[0]!)[1]]
        // Linear in the output gradient, constant in x almost everywhere.
        case .maxPool2dBackward: return [t[1].map { Dispatch.run1(self, [x[0], $0]) }]
        case .batchNorm(let epsilon):
            var parameterShape = [Int](repeating: 1, count: x[0].rank)
            parameterShape[1] = x[0].shape[1]
            return JVPRules.normalization(x, y, t, axes: [0] + Array(2..<x[0].rank), parameterShape: parameterShape, epsilon)
        case .layerNorm(let axes, let epsilon):
            let rank = x[0].rank
            return JVPRules.normalization(x, y, t, axes: Array((rank - axes)..<rank), parameterShape: x[1].shape, epsilon)
        case .batchNormBackward(let epsilon):
            var parameterShape = [Int](repeating: 1, count: x[0].rank)
            parameterShape[1] = x[0].shape[1]
            let axes = [0] + Array(2..<x[0].rank)
            return JVPRules.normalizationBackward(x, t, axes: axes, parameterAxes: axes, parameterShape: parameterShape, epsilon)
        // The program's operations one by one, each with its own rule.
        case .fused(let program):
            return Ember.jvp({ Fused.unfused(program, $0) }, primals: x, tangents: JVPRules.zeroFilled(x, t)).tangents
        case .layerNormBackward(let axes, let epsilon):
            let rank = x[0].rank
            return JVPRules.normalizationBackward(x, t, axes: Array((rank - axes)..<rank), parameterAxes: Array(0..<(rank - axes)),
                                                  parameterShape: x[4].shape, epsilon)
        }
    }
}

/// The forward-mode rules that take more than a line.
enum JVPRules {
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

    /// The partial derivatives of each elementwise binary operation, as in its VJP rule.
    static func binary(_ op: BinaryOp, _ x: [Tensor], _ y: Tensor, _ t: [Tensor?]) -> Tensor? {
        let a = x[0], b = x[1]
        switch op {
        case .add: return sum([t[0], t[1]], y.shape)
        case .sub: return sum([t[0], t[1].map { -$0 }], y.shape)
        case .mul: return sum([t[0].map { $0 * b }, t[1].map { a * $0 }], y.shape)
        case .div: return sum([t[0].map { $0 / b }, t[1].map { -(a * $0) / (b * b) }], y.shape)
        case .pow:
            // 0 where b == 0 for the base, and where a == 0 for the exponent (see the VJP rule).
            let zero = Tensor.scalar(0, dtype: a.dtype)
            let da = t[0].map { Tensor.where(b .== zero, zero, $0 * b * pow(a, b - 1)) }
            let db = t[1].map { Tensor.where(a .== zero, zero, $0 * y * Tensor.where(a .== zero, zero, a).log()) }
            return sum([da, db], y.shape)
        case .maximum, .minimum:
            // Ties take the mean of the two tangents, as the VJP rule shares the gradient.
            let wins = (op == .maximum ? a .> b : a .< b).cast(to: y.dtype)
            let share = wins + (a .== b).cast(to: y.dtype) * 0.5
            return sum([t[0].map { $0 * share }, t[1].map { $0 * (1 - share) }], y.shape)
        case .logicalAnd, .logicalOr, .logicalXor: return nil
        }
    }

    static func reduce(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool, _ x: Tensor, _ t: Tensor) -> Tensor {
        let reduced: Tensor
        switch op {
        case .sum:
            reduced = t
        case .prod, .max, .min:
            // The partial derivatives are the VJP rule's answer to a cotangent of ones.
            let ones = Tensor.ones(Reduction.reducedShape(x.shape, axes, keepDims: keepDims), dtype: x.dtype)
            reduced = t * Reduction.reduceVJP(op, axes, keepDims, x, ones)
        }
        return Dispatch.run1(.reduce(.sum, axes: axes, keepDims: keepDims), [reduced])
    }

    /// Inputs (x, w, bias?).
    static func conv2d(_ c: ConvConfig, _ x: [Tensor], _ y: Tensor, _ t: [Tensor?]) -> Tensor? {
        let bias = x.count == 3 ? t[2].map { $0.reshaped(to: [1, $0.count, 1, 1]) } : nil
        return sum([t[0].map { Dispatch.run1(.conv2d(c), [$0, x[1]]) },
                    t[1].map { Dispatch.run1(.conv2d(c), [x[0], $0]) }, bias], y.shape)
    }

    /// Inputs (x, w, b), outputs (y, mean, variance) with y = x̂ w + b and
    /// x̂ = (x - mean) / sqrt(variance + epsilon), the biased statistics over `axes`.
    static func normalization(_ x: [Tensor], _ y: [Tensor], _ t: [Tensor?], axes: [Int], parameterShape: [Int],
                              _ epsilon: Double) -> [Tensor?] {
        let statisticShape = Reduction.reducedShape(x[0].shape, axes, keepDims: true)
        let variance = y[2].reshaped(to: statisticShape)
        let centered = x[0] - y[1].reshaped(to: statisticShape)
        let inverseStd = (variance + epsilon).rsqrt()
        let normalized = centered * inverseStd
        var dNormalized: Tensor?, dMean: Tensor?, dVariance: Tensor?
        if let tx = t[0] {
            let dm = tx.mean(axes: axes, keepDims: true)
            let dv = (centered * tx).mean(axes: axes, keepDims: true) * 2
            // d rsqrt(v + eps) = -rsqrt(v + eps) dv / (2 (v + eps))
            dNormalized = (tx - dm) * inverseStd - normalized * (dv * 0.5 / (variance + epsilon))
            dMean = dm.reshaped(to: y[1].shape)
            dVariance = dv.reshaped(to: y[2].shape)
        }
        let w = x[1].reshaped(to: parameterShape)
        let dy = sum([dNormalized.map { $0 * w }, t[1].map { normalized * $0.reshaped(to: parameterShape) },
                      t[2].map { $0.reshaped(to: parameterShape) }], x[0].shape)
        return [dy, dMean, dVariance]
    }

    /// Inputs (x, gradY, mean, variance, w). The fused backward kernels compute
    /// `Normalization.differentiableVJP`, so their tangents are that formula's, pushed forward
    /// by `jvp` itself. The formula recomputes the statistics from x, as they are x's.
    static func normalizationBackward(_ x: [Tensor], _ t: [Tensor?], axes: [Int], parameterAxes: [Int],
                                      parameterShape: [Int], _ epsilon: Double) -> [Tensor?] {
        let formula = { (v: [Tensor]) -> [Tensor] in
            Normalization.differentiableVJP(v[0], v[2].reshaped(to: parameterShape), v[1], axes: axes, parameterAxes: parameterAxes,
                                            epsilon, [true, true, true]).map { $0! }
        }
        let primals = [x[0], x[1], x[4]]
        return jvp(formula, primals: primals, tangents: zeroFilled(primals, [t[0], t[1], t[4]])).tangents
    }
}
