/// The closed set of operations every tensor operation bottoms out in.
///
/// Each primitive has, in the file of its family (Ops/): a shape and dtype rule
/// (`outputSpecs`), a reverse-mode derivative rule written with tensor operations (`vjp`),
/// a forward-mode rule (`jvp`) and a batching rule (`batch`); and a kernel on each backend
/// (`Backend.execute`, Backend/CPU/). The exhaustive switches of this folder (this file,
/// ForwardMode.swift, Batching.swift) are tables from each case to its rules, and with the
/// backends' they make the compiler refuse a primitive that lacks a rule.
public enum Primitive: Hashable, Sendable {
    // Elementwise (Ops/Elementwise.swift)
    case unary(UnaryOp)
    case binary(BinaryOp)
    case compare(CompareOp)
    /// where(condition, a, b)
    case select
    case cast(DType)

    // Reductions (Ops/Reduce.swift)
    case reduce(ReduceOp, axes: [Int], keepDims: Bool)
    case argReduce(ArgReduceOp, axis: Int, keepDims: Bool)
    /// Running sums along `axis` (torch.cumsum), from the end when `reverse`.
    case cumsum(axis: Int, reverse: Bool)

    // Sorting (Ops/Sorting.swift)
    /// The indices that sort each slice along `axis` (stable; NaN counts as the largest).
    case argsort(axis: Int, descending: Bool)

    // Movement (Ops/Movement.swift); the first four are views where the layout allows.
    case reshape([Int])
    case permute([Int])
    case expand([Int])
    case slice([SliceRange])
    case pad([Padding], value: Double)
    case concat(axis: Int)
    case flip(axes: [Int])
    /// A dense row-major copy.
    case copy

    // Indexing (Ops/Indexing.swift)
    /// out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis` (torch.gather).
    case gather(axis: Int)
    /// base with src added at index along `axis` (torch.scatter_add).
    case scatterAdd(axis: Int)
    /// x's slices along `axis` picked by a 1-D index (torch.index_select).
    case indexSelect(axis: Int)
    /// base with src's slices added at a 1-D index along `axis` (torch.index_add).
    case indexAdd(axis: Int)

    // Linear algebra (Ops/LinearAlgebra.swift)
    case matmul

    // Convolution, NCHW / OIHW (Ops/Convolution.swift)
    case conv2d(ConvConfig)
    case conv2dBackwardInput(ConvConfig, inputShape: [Int])
    case conv2dBackwardWeight(ConvConfig, weightShape: [Int])

    // Pooling, NCHW (Ops/Pooling.swift)
    case maxPool2d(PoolConfig)
    case maxPool2dBackward(PoolConfig)
    case avgPool2d(PoolConfig)
    case avgPool2dBackward(PoolConfig, inputShape: [Int])

    // Normalization (Ops/Normalization.swift)
    /// Training-mode batch normalization over all axes but 1: (x, weight, bias) -> (y, mean, variance).
    case batchNorm(epsilon: Double)
    /// (x, gradY, mean, variance, weight) -> (gradX, gradWeight, gradBias)
    case batchNormBackward(epsilon: Double)
    /// Normalization over the last `axes` axes: (x, weight, bias) -> (y, mean, variance).
    case layerNorm(axes: Int, epsilon: Double)
    /// (x, gradY, mean, variance, weight) -> (gradX, gradWeight, gradBias)
    case layerNormBackward(axes: Int, epsilon: Double)

    // Attention (Ops/Attention.swift)
    /// softmax(q kᵀ · scale + mask) v computed in key blocks, the scores never held whole:
    /// (q, k, v[, mask]) -> (output, logsumexp per query row).
    case attention(AttentionConfig)
    /// (q, k, v, logsumexp, delta, gradOutput[, mask]) -> (gradQ, gradK, gradV), recomputing the scores.
    case attentionBackward(AttentionConfig)

    // Recurrence (Ops/Recurrence.swift)
    /// An LSTM's or GRU's steps over a sequence from its input projection: (projected, W_hh,
    /// b_hh, h0[, c0][, mask]) -> (hs[, cs], activated gates).
    case recurrence(RecurrenceConfig)
    /// (W_hh, initial state, states, gates, state gradients[, mask]) -> the gradients of the
    /// gates' inputs and of the initial states.
    case recurrenceBackward(RecurrenceConfig)

    // Random numbers (Ops/RandomBits.swift)
    /// Philox words (int64 in 0..<2^32) of `shape` for each key of a key tensor [..., 2].
    case randomBits(shape: [Int], stream: RandomStream)
    // Derivative control (Ops/Custom.swift)
    /// A user's function with a derivative rule of its own (`customVJP`).
    case custom(CustomFunction)
    /// The identity, through which no derivative flows.
    case stopGradient

    // Fusion (Ops/Fused.swift), built by `compile`
    /// A chain of elementwise operations run as one loop, optionally ending in a reduction.
    case fused(FusedProgram)
}

/// The elementwise operations of one tensor (the primitive `unary`).
public enum UnaryOp: Hashable, Sendable, CaseIterable {
    case neg, abs, sign, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, relu, erf, gelu, floor, ceil, round, logicalNot
}

/// The elementwise operations of two broadcast tensors (the primitive `binary`).
public enum BinaryOp: Hashable, Sendable, CaseIterable {
    case add, sub, mul, div, pow, maximum, minimum, logicalAnd, logicalOr, logicalXor
}

/// Elementwise comparisons, giving `.bool` tensors (the primitive `compare`).
public enum CompareOp: Hashable, Sendable, CaseIterable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual
}

/// Reductions over axes (the primitive `reduce`).
public enum ReduceOp: Hashable, Sendable, CaseIterable {
    case sum, prod, max, min
}

/// The index of the largest or smallest element along an axis (the primitive `argReduce`).
public enum ArgReduceOp: Hashable, Sendable, CaseIterable {
    case argmax, argmin
}

/// One axis of a slice: elements start, start + step, ... below end (0 <= start <= end, step >= 1).
public struct SliceRange: Hashable, Sendable {
    public var start: Int
    public var end: Int
    public var step: Int
    public init(start: Int, end: Int, step: Int = 1) {
        self.start = start
        self.end = end
        self.step = step
    }
    public var count: Int { end > start ? (end - start + step - 1) / step : 0 }
}

/// Elements added before and after one axis.
public struct Padding: Hashable, Sendable {
    public var before: Int
    public var after: Int
    public init(_ before: Int, _ after: Int) {
        self.before = before
        self.after = after
    }
}

/// A 2-D convolution's geometry. Padding is symmetric per spatial axis; dilation 1 is dense.
public struct ConvConfig: Hashable, Sendable {
    public var stride: [Int]
    public var padding: [Int]
    public var dilation: [Int]
    public var groups: Int
    /// Compute the forward pass with Winograd's minimal filtering (F(4×4, 3×3)) where the
    /// backend has it (oneDNN: float32 3×3 stride-1 convolutions, AVX-512), else directly:
    /// fewer multiplications, less exact. Set by `compile` with `CompileOptions.winograd`.
    public var winograd: Bool
    public init(stride: [Int] = [1, 1], padding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1,
                winograd: Bool = false) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.winograd = winograd
    }
}

/// A 2-D pooling window. Average pooling divides by the window area inside the padded input
/// when `countIncludePad` (PyTorch's default), else by the number of real elements.
public struct PoolConfig: Hashable, Sendable {
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]
    public var countIncludePad: Bool
    public init(kernel: [Int], stride: [Int], padding: [Int] = [0, 0], countIncludePad: Bool = true) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.countIncludePad = countIncludePad
    }
}

/// What the shape rules compute: the shape and dtype of a value.
public struct TensorSpec: Hashable, Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var dtype: DType
    public init(_ shape: [Int], _ dtype: DType) {
        self.shape = shape
        self.dtype = dtype
    }
    public var description: String { "\(dtype)\(shape)" }
}

extension Tensor {
    var spec: TensorSpec { TensorSpec(shape, dtype) }
}

extension Primitive {
    /// The operation's name in errors and printed graphs.
    public var name: String {
        switch self {
        case .unary(let op): return "\(op)"
        case .binary(let op): return "\(op)"
        case .compare(let op): return "\(op)"
        case .select: return "select"
        case .cast(let t): return "cast<\(t)>"
        case .reduce(let op, let axes, let keep): return "reduce_\(op)(axes: \(axes)\(keep ? ", keepDims" : ""))"
        case .argReduce(let op, let axis, let keep): return "\(op)(axis: \(axis)\(keep ? ", keepDims" : ""))"
        case .reshape(let s): return "reshape(\(s))"
        case .permute(let p): return "permute(\(p))"
        case .expand(let s): return "expand(\(s))"
        case .slice(let r): return "slice(\(r.map { "\($0.start)..<\($0.end):\($0.step)" }.joined(separator: ", ")))"
        case .pad(let p, let v): return "pad(\(p.map { "(\($0.before), \($0.after))" }.joined(separator: ", ")), value: \(v))"
        case .concat(let axis): return "concat(axis: \(axis))"
        case .flip(let axes): return "flip(axes: \(axes))"
        case .copy: return "copy"
        case .gather(let axis): return "gather(axis: \(axis))"
        case .scatterAdd(let axis): return "scatter_add(axis: \(axis))"
        case .indexSelect(let axis): return "index_select(axis: \(axis))"
        case .indexAdd(let axis): return "index_add(axis: \(axis))"
        case .matmul: return "matmul"
        case .conv2d(let c): return "conv2d(\(c))"
        case .conv2dBackwardInput(let c, _): return "conv2d_backward_input(\(c))"
        case .conv2dBackwardWeight(let c, _): return "conv2d_backward_weight(\(c))"
        case .maxPool2d(let c): return "max_pool2d(\(c))"
        case .maxPool2dBackward(let c): return "max_pool2d_backward(\(c))"
        case .avgPool2d(let c): return "avg_pool2d(\(c))"
        case .avgPool2dBackward(let c, _): return "avg_pool2d_backward(\(c))"
        case .batchNorm(let e): return "batch_norm(epsilon: \(e))"
        case .batchNormBackward(let e): return "batch_norm_backward(epsilon: \(e))"
        case .layerNorm(let a, let e): return "layer_norm(axes: \(a), epsilon: \(e))"
        case .layerNormBackward(let a, let e): return "layer_norm_backward(axes: \(a), epsilon: \(e))"
        case .attention(let c): return "attention(\(c.description))"
        case .attentionBackward(let c): return "attention_backward(\(c.description))"
        case .recurrence(let c): return "recurrence(\(c.description))"
        case .recurrenceBackward(let c): return "recurrence_backward(\(c.description))"
        case .cumsum(let axis, let reverse): return "cumsum(axis: \(axis)\(reverse ? ", reverse" : ""))"
        case .argsort(let axis, let descending): return "argsort(axis: \(axis)\(descending ? ", descending" : ""))"
        case .custom(let function): return "custom<\(function.name)>"
        case .stopGradient: return "stop_gradient"
        case .randomBits(let s, let stream): return "random_bits(\(s), \(stream))"
        case .fused(let program): return program.description
        }
    }

    /// The shape and dtype rule: the outputs' specs for these inputs, or an error naming the
    /// operation, what it was given and what it expects.
    public func outputSpecs(_ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        switch self {
        case .unary(let op): return [try Elementwise.unarySpec(op, inputs)]
        case .binary(let op): return [try Elementwise.binarySpec(op, inputs)]
        case .compare(let op): return [try Elementwise.compareSpec(op, inputs)]
        case .select: return [try Elementwise.selectSpec(inputs)]
        case .cast(let t): return [try Elementwise.castSpec(t, inputs)]
        case .reduce(let op, let axes, let keep): return [try Reduction.reduceSpec(op, axes, keep, inputs)]
        case .argReduce(let op, let axis, let keep): return [try Reduction.argReduceSpec(op, axis, keep, inputs)]
        case .reshape(let s): return [try Movement.reshapeSpec(s, inputs)]
        case .permute(let p): return [try Movement.permuteSpec(p, inputs)]
        case .expand(let s): return [try Movement.expandSpec(s, inputs)]
        case .slice(let r): return [try Movement.sliceSpec(r, inputs)]
        case .pad(let p, _): return [try Movement.padSpec(p, inputs)]
        case .concat(let axis): return [try Movement.concatSpec(axis, inputs)]
        case .flip(let axes): return [try Movement.flipSpec(axes, inputs)]
        case .copy: return [try Movement.copySpec(inputs)]
        case .gather(let axis): return [try Indexing.gatherSpec(axis, inputs)]
        case .scatterAdd(let axis): return [try Indexing.scatterAddSpec(axis, inputs)]
        case .indexSelect(let axis): return [try Indexing.indexSelectSpec(axis, inputs)]
        case .indexAdd(let axis): return [try Indexing.indexAddSpec(axis, inputs)]
        case .matmul: return [try LinearAlgebra.matmulSpec(inputs)]
        case .conv2d(let c): return [try Convolution.conv2dSpec(c, inputs)]
        case .conv2dBackwardInput(let c, let s): return [try Convolution.backwardInputSpec(c, s, inputs)]
        case .conv2dBackwardWeight(let c, let s): return [try Convolution.backwardWeightSpec(c, s, inputs)]
        case .maxPool2d(let c): return [try Pooling.poolSpec("max_pool2d", c, inputs)]
        case .maxPool2dBackward(let c): return [try Pooling.maxPoolBackwardSpec(c, inputs)]
        case .avgPool2d(let c): return [try Pooling.poolSpec("avg_pool2d", c, inputs)]
        case .avgPool2dBackward(let c, let s): return [try Pooling.avgPoolBackwardSpec(c, s, inputs)]
        case .batchNorm: return try Normalization.batchNormSpecs(inputs)
        case .batchNormBackward: return try Normalization.batchNormBackwardSpecs(inputs)
        case .layerNorm(let axes, _): return try Normalization.layerNormSpecs(axes, inputs)
        case .layerNormBackward(let axes, _): return try Normalization.layerNormBackwardSpecs(axes, inputs)
        case .attention(let c): return try Attention.attentionSpecs(c, inputs)
        case .attentionBackward(let c): return try Attention.backwardSpecs(c, inputs)
        case .recurrence(let c): return try Recurrence.specs(c, inputs)
        case .recurrenceBackward(let c): return try Recurrence.backwardSpecs(c, inputs)
        case .cumsum(let axis, _): return [try Reduction.cumsumSpec(axis, inputs)]
        case .argsort(let axis, _): return [try Sorting.argsortSpec(axis, inputs)]
        case .custom(let function): return Custom.outputSpecs(function, inputs)
        case .stopGradient: return [inputs[0]]
        case .randomBits(let shape, let stream): return [try RandomKeys.bitsSpec(shape, stream, inputs)]
        case .fused(let program): return try Fused.outputSpecs(program, inputs)
        }
    }

    /// How many outputs the primitive gives, whether or not its shape rule accepts `inputs`
    /// (exhaustive, like the other tables, so that a new primitive states its count).
    func outputCount(_ inputs: [TensorSpec]) -> Int {
        switch self {
        case .unary, .binary, .compare, .select, .cast, .reduce, .argReduce, .cumsum, .argsort, .reshape, .permute,
             .expand, .slice, .pad, .concat, .flip, .copy, .gather, .scatterAdd, .indexSelect, .indexAdd, .matmul,
             .conv2d, .conv2dBackwardInput, .conv2dBackwardWeight, .maxPool2d, .maxPool2dBackward, .avgPool2d,
             .avgPool2dBackward, .stopGradient, .randomBits:
            return 1
        case .batchNorm, .batchNormBackward, .layerNorm, .layerNormBackward, .attentionBackward: return 3
        case .attention: return 2
        case .recurrence(let c): return c.cell == .lstm ? 3 : 2
        case .recurrenceBackward: return 3
        case .custom(let function): return Custom.outputSpecs(function, inputs).count
        case .fused(let program):
            switch program.tail {
            case nil: return program.outputs.count
            case .reduce: return 1
            case .layerNorm: return 3
            }
        }
    }

    /// The derivative rule: cotangents of the inputs from cotangents of the outputs, written
    /// with tensor operations so that they can themselves be differentiated. `needed[i]` says
    /// whether input i's cotangent is wanted; an entry may be nil when it is not, or when the
    /// input is not differentiable (indices, conditions).
    func vjp(_ inputs: [Tensor], _ cotangents: [Tensor?], _ saved: [Tensor], _ needed: [Bool]) -> [Tensor?] {
        switch self {
        case .unary(let op): return [Elementwise.unaryVJP(op, inputs[0], cotangents[0]!)]
        case .binary(let op): return Elementwise.binaryVJP(op, inputs, cotangents[0]!, needed)
        case .compare: return [nil, nil]
        case .select: return Elementwise.selectVJP(inputs, cotangents[0]!)
        case .cast: return [Elementwise.castVJP(inputs[0], cotangents[0]!)]
        case .reduce(let op, let axes, let keep): return [Reduction.reduceVJP(op, axes, keep, inputs[0], cotangents[0]!)]
        case .argReduce: return [nil]
        case .reshape: return [cotangents[0]!.reshaped(to: inputs[0].shape)]
        case .permute(let p): return [Movement.permuteVJP(p, cotangents[0]!)]
        case .expand: return [cotangents[0]!.sum(toShape: inputs[0].shape)]
        case .slice(let r): return [Movement.sliceVJP(r, inputs[0], cotangents[0]!)]
        case .pad(let p, _): return [Movement.padVJP(p, cotangents[0]!)]
        case .concat(let axis): return Movement.concatVJP(axis, inputs, cotangents[0]!)
        case .flip(let axes): return [cotangents[0]!.flipped(axes: axes)]
        case .copy: return [cotangents[0]!]
        case .gather(let axis): return Indexing.gatherVJP(axis, inputs, cotangents[0]!)
        case .scatterAdd(let axis): return Indexing.scatterAddVJP(axis, inputs, cotangents[0]!)
        case .indexSelect(let axis): return Indexing.indexSelectVJP(axis, inputs, cotangents[0]!)
        case .indexAdd(let axis): return Indexing.indexAddVJP(axis, inputs, cotangents[0]!)
        case .matmul: return LinearAlgebra.matmulVJP(inputs, cotangents[0]!, needed)
        case .conv2d(let c): return Convolution.conv2dVJP(c, inputs, cotangents[0]!, needed)
        case .conv2dBackwardInput(let c, _): return Convolution.backwardInputVJP(c, inputs, cotangents[0]!, needed)
        case .conv2dBackwardWeight(let c, _): return Convolution.backwardWeightVJP(c, inputs, cotangents[0]!, needed)
        case .maxPool2d(let c): return [Pooling.maxPoolVJP(c, inputs[0], cotangents[0]!)]
        case .maxPool2dBackward(let c): return Pooling.maxPoolBackwardVJP(c, inputs, cotangents[0]!)
        case .avgPool2d(let c): return [Pooling.avgPoolVJP(c, inputs[0], cotangents[0]!)]
        case .avgPool2dBackward(let c, _): return [Pooling.avgPoolBackwardVJP(c, cotangents[0]!)]
        case .batchNorm(let e): return Normalization.batchNormVJP(e, inputs, saved, cotangents, needed)
        case .batchNormBackward: return Normalization.backwardOfBackward(name)
        case .layerNorm(let axes, let e): return Normalization.layerNormVJP(axes, e, inputs, saved, cotangents, needed)
        case .layerNormBackward: return Normalization.backwardOfBackward(name)
        case .attention(let c): return Attention.vjp(c, inputs, saved, cotangents, needed)
        case .attentionBackward: return Attention.backwardOfBackward()
        case .recurrence(let c): return Recurrence.vjp(c, inputs, saved, cotangents, needed)
        case .recurrenceBackward: return Recurrence.backwardOfBackward()
        // Integer outputs: never recorded on the tape, and keys have no cotangent.
        case .randomBits: return [nil]
        case .cumsum(let axis, let reverse): return [Reduction.cumsumVJP(axis, reverse, cotangents[0]!)]
        case .argsort, .stopGradient: return [nil]
        case .custom(let function): return Custom.vjp(function, inputs, saved, cotangents, needed)
        case .fused(let program): return Fused.vjp(program, inputs, cotangents, needed)
        }
    }

    /// Derivative rules that take nil for the outputs that received no cotangent instead of
    /// zeros: the recurrence's gates output, read by nothing outside, would otherwise send
    /// every pass through the formula.
    var takesMissingCotangents: Bool {
        if case .recurrence = self { return true }
        return false
    }

    /// Outputs the derivative rule reads, kept on the tape (as values without history).
    var savesOutputs: Bool {
        switch self {
        case .batchNorm, .layerNorm, .attention, .recurrence, .custom: return true
        default: return false
        }
    }
}
