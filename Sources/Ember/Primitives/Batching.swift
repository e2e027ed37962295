extension Primitive {
    /// The batching rule: the primitive applied to every example at once, as batched
    /// primitives. At least one operand is batched; every output carries the batch axis in
    /// front. Most rules shift an axis; longer ones live in the primitive's family file (Ops/).
    func batch(_ x: BatchedOperands) -> [Tensor] {
        let size = x.size
        switch self {
        case .unary, .cast, .copy, .stopGradient: return [Dispatch.run1(self, x.values)]
        case .binary, .compare, .select, .matmul: return [Dispatch.run1(self, x.alignedForBroadcast())]
        case .reduce(let op, let axes, let keep):
            return [Dispatch.run1(.reduce(op, axes: axes.map { $0 + 1 }, keepDims: keep), x.values)]
        case .argReduce(let op, let axis, let keep):
            return [Dispatch.run1(.argReduce(op, axis: axis + 1, keepDims: keep), x.values)]
        case .cumsum(let axis, let reverse): return [Dispatch.run1(.cumsum(axis: axis + 1, reverse: reverse), x.values)]
        case .argsort(let axis, let descending): return [Dispatch.run1(.argsort(axis: axis + 1, descending: descending), x.values)]
        case .reshape(let shape): return [Dispatch.run1(.reshape([size] + shape), x.values)]
        case .permute(let p): return [Dispatch.run1(.permute([0] + p.map { $0 + 1 }), x.values)]
        case .expand(let shape): return [Dispatch.run1(.expand([size] + shape), [x.aligned(0, rank: shape.count)])]
        case .slice(let ranges): return [Dispatch.run1(.slice([SliceRange(start: 0, end: size)] + ranges), x.values)]
        case .pad(let padding, let value): return [Dispatch.run1(.pad([Padding(0, 0)] + padding, value: value), x.values)]
        case .flip(let axes): return [Dispatch.run1(.flip(axes: axes.map { $0 + 1 }), x.values)]
        case .concat(let axis): return [Dispatch.run1(.concat(axis: axis + 1), x.allMaterialized)]
        case .gather(let axis): return [Dispatch.run1(.gather(axis: axis + 1), x.allMaterialized)]
        case .scatterAdd(let axis): return [Dispatch.run1(.scatterAdd(axis: axis + 1), x.allMaterialized)]
        case .indexSelect(let axis): return [Indexing.indexSelectBatch(axis, x)]
        case .indexAdd(let axis): return [Indexing.indexAddBatch(axis, x)]
        case .conv2d(let c): return [Convolution.conv2dBatch(c, x)]
        case .conv2dBackwardInput(let c, let inputShape): return [Convolution.backwardInputBatch(c, inputShape, x)]
        case .conv2dBackwardWeight(let c, let weightShape): return [Convolution.backwardWeightBatch(c, weightShape, x)]
        case .maxPool2d, .avgPool2d: return [Pooling.poolBatch(self, x)]
        case .maxPool2dBackward: return [Pooling.maxPoolBackwardBatch(self, x)]
        case .avgPool2dBackward(let c, let inputShape): return [Pooling.avgPoolBackwardBatch(c, inputShape, x)]
        case .batchNorm: return Normalization.batchNormBatch(self, x)
        case .batchNormBackward: return Normalization.batchNormBackwardBatch(self, x)
        case .layerNorm(let axes, _): return Normalization.layerNormBatch(self, axes, x)
        case .layerNormBackward(let axes, let epsilon): return Normalization.layerNormBackwardBatch(axes, epsilon, x)
        case .attention, .attentionBackward: return Attention.batch(self, x)
        case .recurrence, .recurrenceBackward: return Recurrence.batch(self, x)
        // A batch of keys [B, ..., 2] gives each example its own bits.
        case .randomBits: return [Dispatch.run1(self, x.values)]
        case .custom(let function): return Custom.batch(function, x)
        case .fused(let program): return Fused.batch(program, x)
        }
    }
}
