/// Batch and layer normalization: the public API, shape rules and derivative rules.
///
/// The primitives always take a weight and a bias (the public API passes ones and zeros
/// when the caller gives none) and return the batch statistics beside the output: the mean
/// and the biased variance, which the backward kernels read. As in PyTorch's
/// native_batch_norm, the statistics carry no gradient of their own (their cotangents are
/// ignored); the public API uses them only for the running statistics, without recording.
enum Normalization {
    // MARK: Shape rules

    /// Checks that the named operands have `shape` and x's floating-point dtype.
    static func check(_ op: String, _ x: TensorSpec, _ operands: [(name: String, spec: TensorSpec)], shape: [Int]) throws(ShapeError) {
        if !x.dtype.isFloatingPoint { throw ShapeError(op, "expected a floating-point input, got \(x.dtype)") }
        for (name, spec) in operands {
            try Elementwise.sameDType(op, x, spec)
            if spec.shape != shape {
                throw ShapeError(op, "the \(name) must have shape \(shape) for input \(x.shape), got \(spec.shape)")
            }
        }
    }

    static func batchNormChannels(_ op: String, _ x: TensorSpec) throws(ShapeError) -> Int {
        if x.shape.count < 2 { throw ShapeError(op, "expected an input [N, C, ...] of rank 2 or more, got \(x.shape)") }
        if ShapeMath.count(x.shape) == 0 && x.shape[1] > 0 {
            throw ShapeError(op, "needs at least one value per channel, got input \(x.shape)")
        }
        return x.shape[1]
    }

    static func batchNormSpecs(_ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let x = inputs[0]
        let channels = try batchNormChannels("batch_norm", x)
        try check("batch_norm", x, [("weight", inputs[1]), ("bias", inputs[2])], shape: [channels])
        return [x, TensorSpec([channels], x.dtype), TensorSpec([channels], x.dtype)]
    }

    /// Inputs (x, gradY, mean, variance, weight).
    static func batchNormBackwardSpecs(_ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let op = "batch_norm_backward"
        let x = inputs[0]
        let channels = try batchNormChannels(op, x)
        try checkGradient(op, x, inputs[1])
        try check(op, x, [("mean", inputs[2]), ("variance", inputs[3]), ("weight", inputs[4])], shape: [channels])
        return [x, TensorSpec([channels], x.dtype), TensorSpec([channels], x.dtype)]
    }

    /// The shapes of the normalized part and of the statistics (the leading axes).
    static func layerNormShapes(_ op: String, _ axes: Int, _ x: TensorSpec) throws(ShapeError) -> (normalized: [Int], statistics: [Int]) {
        if axes < 1 || axes > x.shape.count {
            throw ShapeError(op, "cannot normalize over the last \(axes) axes of an input of shape \(x.shape)")
        }
        let split = x.shape.count - axes
        return (Array(x.shape[split...]), Array(x.shape[..<split]))
    }

    static func layerNormSpecs(_ axes: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let x = inputs[0]
        let (normalized, statistics) = try layerNormShapes("layer_norm", axes, x)
        try check("layer_norm", x, [("weight", inputs[1]), ("bias", inputs[2])], shape: normalized)
        return [x, TensorSpec(statistics, x.dtype), TensorSpec(statistics, x.dtype)]
    }

    /// Inputs (x, gradY, mean, variance, weight).
    static func layerNormBackwardSpecs(_ axes: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let op = "layer_norm_backward"
        let x = inputs[0]
        let (normalized, statistics) = try layerNormShapes(op, axes, x)
        try checkGradient(op, x, inputs[1])
        try check(op, x, [("mean", inputs[2]), ("variance", inputs[3])], shape: statistics)
        try check(op, x, [("weight", inputs[4])], shape: normalized)
        return [x, TensorSpec(normalized, x.dtype), TensorSpec(normalized, x.dtype)]
    }

    static func checkGradient(_ op: String, _ x: TensorSpec, _ g: TensorSpec) throws(ShapeError) {
        if g != x { throw ShapeError(op, "the output gradient must match the input \(x), got \(g)") }
    }

    // MARK: Derivative rules

    /// Inputs (x, weight, bias); saved (y, mean, variance). Only y's cotangent is used.
    static func batchNormVJP(_ epsilon: Double, _ inputs: [Tensor], _ saved: [Tensor], _ g: [Tensor?], _ needed: [Bool]) -> [Tensor?] {
        let x = inputs[0], w = inputs[1]
        let axes = [0] + Array(2..<x.rank)
        if isGradEnabled {
            var shape = [Int](repeating: 1, count: x.rank)
            shape[1] = w.shape[0]
            return differentiableVJP(x, w.reshaped(to: shape), g[0]!, axes: axes, parameterAxes: axes, epsilon, needed)
        }
        let grads = Dispatch.run(.batchNormBackward(epsilon: epsilon), [x, g[0]!, saved[1], saved[2], w])
        return zip(grads, needed).map { $1 ? $0 : nil }
    }

    /// Inputs (x, weight, bias); saved (y, mean, variance). Only y's cotangent is used.
    static func layerNormVJP(_ axes: Int, _ epsilon: Double, _ inputs: [Tensor], _ saved: [Tensor], _ g: [Tensor?], _ needed: [Bool]) -> [Tensor?] {
        let x = inputs[0], w = inputs[1]
        if isGradEnabled {
            return differentiableVJP(x, w, g[0]!, axes: Array((x.rank - axes)..<x.rank),
                                     parameterAxes: Array(0..<(x.rank - axes)), epsilon, needed)
        }
        let grads = Dispatch.run(.layerNormBackward(axes: axes, epsilon: epsilon), [x, g[0]!, saved[1], saved[2], w])
        return zip(grads, needed).map { $1 ? $0 : nil }
    }

    /// The gradients of y = (x - mean) / sqrt(variance + epsilon) * w + b, with the
    /// statistics over `axes`, written in tensor operations (statistics recomputed from x) so
    /// that they can be differentiated again. Used while recording (createGraph, nested
    /// transforms); a first-order backward pass runs the fused backward kernel instead.
    /// `w` is broadcastable against x; its gradient is summed over `parameterAxes`.
    static func differentiableVJP(_ x: Tensor, _ w: Tensor, _ gy: Tensor, axes: [Int], parameterAxes: [Int],
                                  _ epsilon: Double, _ needed: [Bool]) -> [Tensor?] {
        let centered = x - x.mean(axes: axes, keepDims: true)
        let inverseStd = ((centered * centered).mean(axes: axes, keepDims: true) + epsilon).rsqrt()
        let normalized = centered * inverseStd
        var gx: Tensor?
        if needed[0] {
            let gNormalized = gy * w
            gx = inverseStd * (gNormalized - gNormalized.mean(axes: axes, keepDims: true)
                - normalized * (gNormalized * normalized).mean(axes: axes, keepDims: true))
        }
        let parameterShape = Array(x.shape.enumerated().filter { !parameterAxes.contains($0.offset) }.map(\.element))
        return [gx,
                needed[1] ? (gy * normalized).sum(axes: parameterAxes).reshaped(to: parameterShape) : nil,
                needed[2] ? gy.sum(axes: parameterAxes).reshaped(to: parameterShape) : nil]
    }

    /// The fused backward primitives run only in first-order passes (see `differentiableVJP`),
    /// so they are never recorded for differentiation.
    static func backwardOfBackward(_ name: String) -> [Tensor?] {
        fatalError("\(name): the fused normalization backward is not differentiable; differentiate with createGraph so that the differentiable formula is recorded instead")
    }
}

// MARK: Forward mode and batching

extension Normalization {
    /// Inputs (x, w, b), outputs (y, mean, variance) with y = x̂ w + b and
    /// x̂ = (x - mean) / sqrt(variance + epsilon), the biased statistics over `axes`.
    static func normalizationJVP(_ x: [Tensor], _ y: [Tensor], _ t: [Tensor?], axes: [Int], parameterShape: [Int],
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
        let dy = Tangents.sum([dNormalized.map { $0 * w }, t[1].map { normalized * $0.reshaped(to: parameterShape) },
                      t[2].map { $0.reshaped(to: parameterShape) }], x[0].shape)
        return [dy, dMean, dVariance]
    }

    /// Inputs (x, gradY, mean, variance, w). The fused backward kernels compute
    /// `Normalization.differentiableVJP`, so their tangents are that formula's, pushed forward
    /// by `jvp` itself. The formula recomputes the statistics from x, as they are x's.
    static func normalizationBackwardJVP(_ x: [Tensor], _ t: [Tensor?], axes: [Int], parameterAxes: [Int],
                                      parameterShape: [Int], _ epsilon: Double) -> [Tensor?] {
        let formula = { (v: [Tensor]) -> [Tensor] in
            Normalization.differentiableVJP(v[0], v[2].reshaped(to: parameterShape), v[1], axes: axes, parameterAxes: parameterAxes,
                                            epsilon, [true, true, true]).map { $0! }
        }
        let primals = [x[0], x[1], x[4]]
        return jvp(formula, primals: primals, tangents: Tangents.zeroFilled(primals, [t[0], t[1], t[4]])).tangents
    }

    static func batchNormJVP(_ epsilon: Double, _ x: [Tensor], _ y: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        var parameterShape = [Int](repeating: 1, count: x[0].rank)
        parameterShape[1] = x[0].shape[1]
        return normalizationJVP(x, y, t, axes: [0] + Array(2..<x[0].rank), parameterShape: parameterShape, epsilon)
    }

    static func layerNormJVP(_ axes: Int, _ epsilon: Double, _ x: [Tensor], _ y: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        let rank = x[0].rank
        return normalizationJVP(x, y, t, axes: Array((rank - axes)..<rank), parameterShape: x[1].shape, epsilon)
    }

    static func batchNormBackwardJVP(_ epsilon: Double, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        var parameterShape = [Int](repeating: 1, count: x[0].rank)
        parameterShape[1] = x[0].shape[1]
        let axes = [0] + Array(2..<x[0].rank)
        return normalizationBackwardJVP(x, t, axes: axes, parameterAxes: axes, parameterShape: parameterShape, epsilon)
    }

    static func layerNormBackwardJVP(_ axes: Int, _ epsilon: Double, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        let rank = x[0].rank
        return normalizationBackwardJVP(x, t, axes: Array((rank - axes)..<rank), parameterAxes: Array(0..<(rank - axes)),
                                        parameterShape: x[4].shape, epsilon)
    }

    /// Per-example statistics: each example's channels become channels of their own.
    static func batchNormBatch(_ primitive: Primitive, _ x: BatchedOperands) -> [Tensor] {
        let parameters = [1, 2].map { x.materialized($0).reshaped(to: [-1]) }
        let r = Dispatch.run(primitive, [x.foldedIntoChannels(0)] + parameters)
        return [x.unfoldedFromChannels(r[0]), r[1].reshaped(to: [x.size, -1]), r[2].reshaped(to: [x.size, -1])]
    }

    static func batchNormBackwardBatch(_ primitive: Primitive, _ x: BatchedOperands) -> [Tensor] {
        let perChannel = [2, 3, 4].map { x.materialized($0).reshaped(to: [-1]) }
        let r = Dispatch.run(primitive, [x.foldedIntoChannels(0), x.foldedIntoChannels(1)] + perChannel)
        return [x.unfoldedFromChannels(r[0]), r[1].reshaped(to: [x.size, -1]), r[2].reshaped(to: [x.size, -1])]
    }

    /// Inputs (x, w, b). Shared parameters: the batch axis is one more axis of statistics.
    /// Per-example ones: normalize without them, then scale and shift each example.
    static func layerNormBatch(_ primitive: Primitive, _ axes: Int, _ x: BatchedOperands) -> [Tensor] {
        guard x.batched[1] || x.batched[2] else { return Dispatch.run(primitive, x.values) }
        let normalizedShape = x.exampleShape(1), dtype = x.values[0].dtype
        let r = Dispatch.run(primitive, [x.materialized(0), Tensor.ones(normalizedShape, dtype: dtype),
                                         Tensor.zeros(normalizedShape, dtype: dtype)])
        let rank = x.exampleShape(0).count
        return [r[0] * x.aligned(1, rank: rank) + x.aligned(2, rank: rank), r[1], r[2]]
    }

    /// Inputs (x, gradY, mean, variance, w). The weight's and bias's gradients are sums over
    /// each example's rows alone, which the fused kernel cannot keep apart: the batched
    /// result is the differentiable formula the kernel computes.
    static func layerNormBackwardBatch(_ axes: Int, _ epsilon: Double, _ x: BatchedOperands) -> [Tensor] {
        let input = x.materialized(0)
        let rank = input.rank
        let grads = differentiableVJP(input, x.aligned(4, rank: rank - 1), x.materialized(1),
                                                    axes: Array((rank - axes)..<rank), parameterAxes: Array(1..<(rank - axes)),
                                                    epsilon, [true, true, true])
        return grads.map { $0! }
    }
}


extension Normalization {
    /// Inference batch normalization of a bfloat16 input: y = x · scale + shift per channel,
    /// with scale and shift computed in float32 from float32 statistics and parameters, run
    /// as one fused pass that widens x in registers and rounds y once (bfloat16 in and out,
    /// four bytes per element instead of float32 copies of x and of each step). Eager only:
    /// while `compile` traces, batch norm keeps its float32 form, which compile folds into
    /// the convolution before it. Its gradients, tangents and batching are the fused
    /// program's (its operations one by one).
    static func bfloat16Inference(_ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?,
                                  epsilon: Double) -> Tensor {
        precondition(x.rank >= 2, "batchNorm: expected an input [N, C, ...] of rank 2 or more, got \(x.shape)")
        let channels = x.shape[1]
        let w = weight?.cast(to: .float32) ?? Tensor.ones([channels], dtype: .float32, on: x.backend)
        let b = bias?.cast(to: .float32) ?? Tensor.zeros([channels], dtype: .float32, on: x.backend)
        let scale = w * (variance.cast(to: .float32) + epsilon).rsqrt()
        let shift = b - mean.cast(to: .float32) * scale
        var shape = [Int](repeating: 1, count: x.rank)
        shape[1] = channels
        return Dispatch.run1(.fused(.bfloat16ChannelAffine(domain: x.shape)), [x, scale.reshaped(to: shape), shift.reshaped(to: shape)])
    }
}

extension FusedProgram {
    /// r3 = float32(r0), r4 = r3 · r1, r5 = r4 + r2, r6 = bfloat16(r5).
    static let channelAffineInstructions: [Instruction] = [.cast(.float32, 0), .binary(.mul, 3, 1), .binary(.add, 4, 2), .cast(.bfloat16, 5)]

    /// A bfloat16 input scaled and shifted by float32 operands (inference batch norm's
    /// per-channel constants), rounded once.
    static func bfloat16ChannelAffine(domain: [Int]) -> FusedProgram {
        FusedProgram(domain: domain, operandCount: 3, instructions: channelAffineInstructions, outputs: [6])
    }

    /// Whether this is `bfloat16ChannelAffine`'s program, which the CPU backend runs plane by plane.
    var isBFloat16ChannelAffine: Bool {
        operandCount == 3 && head == nil && tail == nil && outputs == [6] && instructions == Self.channelAffineInstructions
    }
}

// MARK: - Public API

/// Batch normalization's output with the running statistics to keep.
public struct BatchNormResult {
    /// The normalized input.
    public var output: Tensor
    /// The running mean after this call: blended with the batch mean in training (by
    /// `momentum`), as given in inference; nil when none was given.
    public var runningMean: Tensor?
    /// The running variance, updated likewise with the batch's unbiased variance (as PyTorch).
    public var runningVariance: Tensor?
}

/// Batch normalization over every axis of [N, C, ...] but the channels C
/// (torch.nn.functional.batch_norm). In training the batch statistics normalize the input
/// and update the running ones (returned rather than changed in place; they may be nil);
/// in inference the running statistics normalize it. Weight and bias default to ones and
/// zeros and are cast to the input's dtype (under `autocast`, half inputs are normalized in
/// float32). A bfloat16 input in inference stays bfloat16, as under PyTorch's CPU autocast:
/// one pass with float32 scale and shift (see `Normalization.bfloat16Inference`).
public func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVariance: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
                      training: Bool, momentum: Double = 0.1, epsilon: Double = 1e-5) -> BatchNormResult {
    if !training, x.dtype == .bfloat16, Tracer.current == nil, let runningMean, let runningVariance {
        let output = Normalization.bfloat16Inference(x, mean: runningMean, variance: runningVariance, weight: weight,
                                                     bias: bias, epsilon: epsilon)
        return BatchNormResult(output: output, runningMean: runningMean, runningVariance: runningVariance)
    }
    let x = Autocast.widened(x)
    precondition(x.rank >= 2, "batchNorm: expected an input [N, C, ...] of rank 2 or more, got \(x.shape)")
    let channels = x.shape[1]
    let w = weight?.cast(to: x.dtype) ?? Tensor.ones([channels], dtype: x.dtype, on: x.backend)
    let b = bias?.cast(to: x.dtype) ?? Tensor.zeros([channels], dtype: x.dtype, on: x.backend)
    guard training else {
        guard let runningMean, let runningVariance else {
            preconditionFailure("batchNorm: inference (training: false) needs the running mean and variance")
        }
        var shape = [Int](repeating: 1, count: x.rank)
        shape[1] = channels
        // One scale and one shift per channel ([C] work), so the input takes two passes,
        // as PyTorch's kernel computes it; both stay affine steps that compile folds.
        let scale = w * (runningVariance.cast(to: x.dtype) + epsilon).rsqrt()
        let shift = b - runningMean.cast(to: x.dtype) * scale
        let output = x * scale.reshaped(to: shape) + shift.reshaped(to: shape)
        return BatchNormResult(output: output, runningMean: runningMean, runningVariance: runningVariance)
    }
    let perChannel = x.count / Swift.max(channels, 1)
    precondition(perChannel > 1, "batchNorm: training needs more than one value per channel, got input \(x.shape)")
    let results = Dispatch.run(.batchNorm(epsilon: epsilon), [x, w, b])
    // Running statistics are buffers, not functions of the parameters: nothing is recorded.
    func blend(_ running: Tensor?, _ batch: Tensor) -> Tensor? {
        running.map { r in r * (1 - momentum) + batch.cast(to: r.dtype) * momentum }
    }
    return noGrad {
        BatchNormResult(output: results[0], runningMean: blend(runningMean, results[1]),
                        runningVariance: blend(runningVariance, results[2] * (Double(perChannel) / Double(perChannel - 1))))
    }
}

/// Layer normalization over the trailing axes `normalizedShape` of x
/// (torch.nn.functional.layer_norm), with the biased variance. Weight and bias have shape
/// `normalizedShape`, default to ones and zeros and are cast to the input's dtype (under
/// `autocast`, half inputs are normalized in float32).
public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                      epsilon: Double = 1e-5) -> Tensor {
    let x = Autocast.widened(x)
    precondition(normalizedShape.count >= 1 && x.shape.suffix(normalizedShape.count) == normalizedShape[...],
                 "layerNorm: the input's trailing axes \(x.shape) must equal normalizedShape \(normalizedShape)")
    let w = weight?.cast(to: x.dtype) ?? Tensor.ones(normalizedShape, dtype: x.dtype, on: x.backend)
    let b = bias?.cast(to: x.dtype) ?? Tensor.zeros(normalizedShape, dtype: x.dtype, on: x.backend)
    return Dispatch.run(.layerNorm(axes: normalizedShape.count, epsilon: epsilon), [x, w, b])[0]
}

// MARK: - ONNX mappings

extension Normalization {
    /// (x - mean) / √(variance + ε) · weight + bias with the biased mean and variance over
    /// `axes`, kept as axes of 1; returns (y, mean, variance).
    private static func normalizedONNX(_ axes: [Int], _ epsilon: Double, _ b: ONNXBuilder, _ x: ONNXOperands,
                                       weight: String, bias: String) -> (y: String, mean: String, variance: String) {
        let dtype = x.inputs[0].dtype
        func mean(_ value: String) -> String {
            let keep = ONNXAttribute("keepdims", .int(1))
            if b.opset >= 18 { return b.node("ReduceMean", [value, b.int64s(axes)], [keep], outputs: 1)[0] }
            return b.node("ReduceMean", [value], [ONNXAttribute("axes", .ints(axes)), keep], outputs: 1)[0]
        }
        func node(_ op: String, _ inputs: [String]) -> String { b.node(op, inputs, [], outputs: 1)[0] }
        let mu = mean(x.names[0])
        let centered = node("Sub", [x.names[0], mu])
        let variance = mean(node("Mul", [centered, centered]))
        let deviation = node("Sqrt", [node("Add", [variance, b.scalar(epsilon, dtype)])])
        let y = node("Add", [node("Mul", [node("Div", [centered, deviation]), weight]), bias])
        return (y, mu, variance)
    }

    /// Training-mode batch normalization (batch statistics), written out: ONNX's
    /// BatchNormalization normalizes with running statistics. Evaluation mode never records it.
    static func batchNormONNX(_ epsilon: Double, _ b: ONNXBuilder, _ x: ONNXOperands) -> [String] {
        let rank = x.inputs[0].shape.count
        let channels = b.shapeTensor([b.inputDimension(1, axis: 0)])
        var broadcast = Array(repeating: 1, count: rank)
        broadcast[1] = -1
        func spread(_ name: String) -> String { b.node("Reshape", [name, b.int64s(broadcast)], [], outputs: 1)[0] }
        let axes = [0] + Array(2..<rank)
        let (y, mean, variance) = normalizedONNX(axes, epsilon, b, x, weight: spread(x.names[1]), bias: spread(x.names[2]))
        return [y, b.node("Reshape", [mean, channels], [], outputs: 1)[0], b.node("Reshape", [variance, channels], [], outputs: 1)[0]]
    }

    /// LayerNormalization from opset 17, written out before; the statistics (read only by
    /// derivatives, so rarely exported) are written out in both.
    static func layerNormONNX(_ axes: Int, _ epsilon: Double, _ b: ONNXBuilder, _ x: ONNXOperands) -> [String] {
        let rank = x.inputs[0].shape.count
        let (y, mean, variance) = normalizedONNX(Array(rank - axes..<rank), epsilon, b, x, weight: x.names[1], bias: x.names[2])
        let statistics = b.shapeTensor((0..<(rank - axes)).map { b.outputDimension(1, axis: $0) })
        let flatMean = b.node("Reshape", [mean, statistics], [], outputs: 1)[0]
        let flatVariance = b.node("Reshape", [variance, statistics], [], outputs: 1)[0]
        guard b.opset >= 17 else { return [y, flatMean, flatVariance] }
        let native = b.node("LayerNormalization", x.names, [ONNXAttribute("axis", .int(-axes)), ONNXAttribute("epsilon", .float(epsilon))],
                            outputs: 1)[0]
        return [native, flatMean, flatVariance]
    }
}
