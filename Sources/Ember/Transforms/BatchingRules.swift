/// One primitive's operands under `vmap`: the batched ones carry the batch axis in front,
/// the others are shared by every example.
struct BatchedOperands {
    let values: [Tensor]
    let batched: [Bool]
    /// The number of examples.
    let size: Int

    /// Operand i's shape in one example.
    func exampleShape(_ i: Int) -> [Int] {
        batched[i] ? Array(values[i].shape.dropFirst()) : values[i].shape
    }

    /// Operand i with the batch axis in front; a shared operand is repeated (a view).
    func materialized(_ i: Int) -> Tensor {
        let x = values[i]
        return batched[i] ? x : x.unsqueezed(axis: 0).expanded(to: [size] + x.shape)
    }

    /// Every operand with the batch axis in front.
    var allMaterialized: [Tensor] { values.indices.map(materialized) }

    /// Operand i ready to broadcast against batched values whose examples have rank `rank`:
    /// size-1 axes after the batch axis; a shared operand broadcasts as it is.
    func aligned(_ i: Int, rank: Int) -> Tensor {
        let example = exampleShape(i)
        guard batched[i] && example.count < rank else { return values[i] }
        return values[i].reshaped(to: [size] + Array(repeating: 1, count: rank - example.count) + example)
    }

    /// Every operand aligned to the highest example rank among them.
    func alignedForBroadcast() -> [Tensor] {
        let rank = values.indices.map { exampleShape($0).count }.max() ?? 0
        return values.indices.map { aligned($0, rank: rank) }
    }

    /// Operand i, [B, N, ...] after materializing, with the batch merged into the next axis:
    /// the examples' images as one larger batch of images.
    func foldedIntoFirstAxis(_ i: Int) -> Tensor {
        let x = materialized(i)
        return x.reshaped(to: [size * x.shape[1]] + Array(x.shape.dropFirst(2)))
    }

    /// Operand i, [B, N, C, ...] after materializing, as [N, B * C, ...]: each example's
    /// channels side by side, for per-example weights (groups) and statistics (channels).
    func foldedIntoChannels(_ i: Int) -> Tensor {
        let x = materialized(i)
        let swapped = x.permuted([1, 0] + Array(2..<x.rank))
        return swapped.reshaped(to: [x.shape[1], size * x.shape[2]] + Array(x.shape.dropFirst(3)))
    }

    /// Undoes `foldedIntoFirstAxis` for a result: [B * N, ...] -> [B, N, ...].
    func unfoldedFromFirstAxis(_ y: Tensor) -> Tensor {
        y.reshaped(to: [size, y.shape[0] / size] + Array(y.shape.dropFirst()))
    }

    /// Undoes `foldedIntoChannels` for a result: [N, B * C, ...] -> [B, N, C, ...].
    func unfoldedFromChannels(_ y: Tensor) -> Tensor {
        let split = y.reshaped(to: [y.shape[0], size, y.shape[1] / size] + Array(y.shape.dropFirst(2)))
        return split.permuted([1, 0] + Array(2..<split.rank))
    }
}

extension Primitive {
    /// The batching rule: the primitive applied to every example at once, as batched
    /// primitives. At least one operand is batched; every output carries the batch axis in
    /// front.
    func batch(_ x: BatchedOperands) -> [Tensor] {
        let size = x.size
        switch self {
        case .unary, .cast, .copy: return [Dispatch.run1(self, x.values)]
        // The program's operations one by one, each with its own batching rule.
        case .fused(let program):
            return vmap({ Fused.unfused(program, $0) }, inAxes: x.batched.map { $0 ? 0 : nil })(x.values)
        case .binary, .compare, .select, .matmul: return [Dispatch.run1(self, x.alignedForBroadcast())]
        case .reduce(let op, let axes, let keep):
            return [Dispatch.run1(.reduce(op, axes: axes.map { $0 + 1 }, keepDims: keep), x.values)]
        case .argReduce(let op, let axis, let keep):
            return [Dispatch.run1(.argReduce(op, axis: axis + 1, keepDims: keep), x.values)]
        case .reshape(let shape): return [Dispatch.run1(.reshape([size] + shape), x.values)]
        case .permute(let p): return [Dispatch.run1(.permute([0] + p.map { $0 + 1 }), x.values)]
        case .expand(let shape): return [Dispatch.run1(.expand([size] + shape), [x.aligned(0, rank: shape.count)])]
        case .slice(let ranges): return [Dispatch.run1(.slice([SliceRange(start: 0, end: size)] + ranges), x.values)]
        case .pad(let padding, let value): return [Dispatch.run1(.pad([Padding(0, 0)] + padding, value: value), x.values)]
        case .flip(let axes): return [Dispatch.run1(.flip(axes: axes.map { $0 + 1 }), x.values)]
        case .concat(let axis): return [Dispatch.run1(.concat(axis: axis + 1), x.allMaterialized)]
        case .gather(let axis): return [Dispatch.run1(.gather(axis: axis + 1), x.allMaterialized)]
        case .scatterAdd(let axis): return [Dispatch.run1(.scatterAdd(axis: axis + 1), x.allMaterialized)]
        case .indexSelect(let axis): return [BatchingRules.indexSelect(axis, x)]
        case .indexAdd(let axis): return [BatchingRules.indexAdd(axis, x)]
        case .conv2d(let c): return [BatchingRules.conv2d(c, x)]
        case .conv2dBackwardInput(let c, let inputShape): return [BatchingRules.conv2dBackwardInput(c, inputShape, x)]
        case .conv2dBackwardWeight(var c, let weightShape):
            // Per-example weight gradients: the examples become groups of one convolution.
            c.groups *= size
            let folded = Dispatch.run1(.conv2dBackwardWeight(c, weightShape: [size * weightShape[0]] + weightShape.dropFirst()),
                                       [x.foldedIntoChannels(0), x.foldedIntoChannels(1)])
            return [folded.reshaped(to: [size] + weightShape)]
        // Pooling windows never cross images: the examples' images are one larger batch.
        case .maxPool2d, .avgPool2d:
            return [x.unfoldedFromFirstAxis(Dispatch.run1(self, [x.foldedIntoFirstAxis(0)]))]
        case .maxPool2dBackward:
            return [x.unfoldedFromFirstAxis(Dispatch.run1(self, [x.foldedIntoFirstAxis(0), x.foldedIntoFirstAxis(1)]))]
        case .avgPool2dBackward(let c, let inputShape):
            let folded = Dispatch.run1(.avgPool2dBackward(c, inputShape: [size * inputShape[0]] + inputShape.dropFirst()),
                                       [x.foldedIntoFirstAxis(0)])
            return [x.unfoldedFromFirstAxis(folded)]
        // Per-example statistics: each example's channels become channels of their own.
        case .batchNorm:
            let parameters = [1, 2].map { x.materialized($0).reshaped(to: [-1]) }
            let r = Dispatch.run(self, [x.foldedIntoChannels(0)] + parameters)
            return [x.unfoldedFromChannels(r[0]), r[1].reshaped(to: [size, -1]), r[2].reshaped(to: [size, -1])]
        case .batchNormBackward:
            let perChannel = [2, 3, 4].map { x.materialized($0).reshaped(to: [-1]) }
            let r = Dispatch.run(self, [x.foldedIntoChannels(0), x.foldedIntoChannels(1)] + perChannel)
            return [x.unfoldedFromChannels(r[0]), r[1].reshaped(to: [size, -1]), r[2].reshaped(to: [size, -1])]
        case .layerNorm(let axes, _): return BatchingRules.layerNorm(self, axes, x)
        case .layerNormBackward(let axes, let epsilon): return BatchingRules.layerNormBackward(axes, epsilon, x)
        // A batch of keys [B, ..., 2] gives each example its own bits.
        case .randomBits, .stopGradient: return [Dispatch.run1(self, x.values)]
        case .cumsum(let axis, let reverse): return [Dispatch.run1(.cumsum(axis: axis + 1, reverse: reverse), x.values)]
        case .argsort(let axis, let descending): return [Dispatch.run1(.argsort(axis: axis + 1, descending: descending), x.values)]
        case .custom(let function): return Custom.batch(function, x)
        }
    }
}

/// The batching rules that take more than a line.
enum BatchingRules {
    /// A per-example index [B, K] as a gather index of `shape`: along the batch axis and `axis`.
    static func spread(_ index: Tensor, along axis: Int, to shape: [Int]) -> Tensor {
        var indexShape = [Int](repeating: 1, count: shape.count)
        indexShape[0] = index.shape[0]
        indexShape[axis] = index.shape[1]
        return index.reshaped(to: indexShape).expanded(to: shape)
    }

    /// Inputs (x, index [K]).
    static func indexSelect(_ axis: Int, _ x: BatchedOperands) -> Tensor {
        let values = x.materialized(0)
        guard x.batched[1] else { return Dispatch.run1(.indexSelect(axis: axis + 1), [values, x.values[1]]) }
        // Each example picks its own slices: a gather with the index laid along the axis.
        var shape = values.shape
        shape[axis + 1] = x.values[1].shape[1]
        return Dispatch.run1(.gather(axis: axis + 1), [values, spread(x.values[1], along: axis + 1, to: shape)])
    }

    /// Inputs (base, index [K], source).
    static func indexAdd(_ axis: Int, _ x: BatchedOperands) -> Tensor {
        let base = x.materialized(0), source = x.materialized(2)
        guard x.batched[1] else { return Dispatch.run1(.indexAdd(axis: axis + 1), [base, x.values[1], source]) }
        // Each example adds at its own slices: a scatter-add with the index laid along the axis.
        return Dispatch.run1(.scatterAdd(axis: axis + 1), [base, spread(x.values[1], along: axis + 1, to: source.shape), source])
    }

    /// Inputs (x, w, bias?).
    static func conv2d(_ c: ConvConfig, _ x: BatchedOperands) -> Tensor {
        let size = x.size
        let hasBias = x.values.count == 3
        guard x.batched[1] || (hasBias && x.batched[2]) else {
            // One weight for every example: the examples' images are one larger batch.
            return x.unfoldedFromFirstAxis(Dispatch.run1(.conv2d(c), [x.foldedIntoFirstAxis(0)] + x.values.dropFirst()))
        }
        // Per-example weights: the examples become groups of one convolution, with images
        // [N, B * C, H, W] and weights [B * O, C / groups, kh, kw].
        var grouped = c
        grouped.groups *= size
        let w = x.materialized(1)
        var operands = [x.foldedIntoChannels(0), w.reshaped(to: [size * w.shape[1]] + Array(w.shape.dropFirst(2)))]
        if hasBias { operands.append(x.materialized(2).reshaped(to: [-1])) }
        return x.unfoldedFromChannels(Dispatch.run1(.conv2d(grouped), operands))
    }

    /// Inputs (gradY, w).
    static func conv2dBackwardInput(_ c: ConvConfig, _ inputShape: [Int], _ x: BatchedOperands) -> Tensor {
        let size = x.size
        guard x.batched[1] else {
            let primitive = Primitive.conv2dBackwardInput(c, inputShape: [size * inputShape[0]] + inputShape.dropFirst())
            return x.unfoldedFromFirstAxis(Dispatch.run1(primitive, [x.foldedIntoFirstAxis(0), x.values[1]]))
        }
        var grouped = c
        grouped.groups *= size
        let w = x.values[1]
        let shape = [inputShape[0], size * inputShape[1]] + inputShape.dropFirst(2)
        let folded = Dispatch.run1(.conv2dBackwardInput(grouped, inputShape: shape),
                                   [x.foldedIntoChannels(0), w.reshaped(to: [size * w.shape[1]] + Array(w.shape.dropFirst(2)))])
        return x.unfoldedFromChannels(folded)
    }

    /// Inputs (x, w, b). Shared parameters: the batch axis is one more axis of statistics.
    /// Per-example ones: normalize without them, then scale and shift each example.
    static func layerNorm(_ primitive: Primitive, _ axes: Int, _ x: BatchedOperands) -> [Tensor] {
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
    static func layerNormBackward(_ axes: Int, _ epsilon: Double, _ x: BatchedOperands) -> [Tensor] {
        let input = x.materialized(0)
        let rank = input.rank
        let grads = Normalization.differentiableVJP(input, x.aligned(4, rank: rank - 1), x.materialized(1),
                                                    axes: Array((rank - axes)..<rank), parameterAxes: Array(1..<(rank - axes)),
                                                    epsilon, [true, true, true])
        return grads.map { $0! }
    }
}
