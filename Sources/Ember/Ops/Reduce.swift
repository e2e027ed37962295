/// Reductions over any set of axes: sum, prod, max, min, argmax, argmin, and the composite
/// statistics built on them (mean, variance, logsumexp, softmax).
enum Reduction {
    static func normalizedAxes(_ op: @autoclosure () -> String, _ axes: [Int], rank: Int) throws(ShapeError) -> [Int] {
        var result = [Int]()
        for axis in axes {
            guard let a = ShapeMath.normalize(axis: axis, rank: rank) else {
                throw ShapeError(op(), "axis \(axis) is out of range for a tensor of rank \(rank)")
            }
            if result.contains(a) { throw ShapeError(op(), "axis \(axis) is repeated in \(axes)") }
            result.append(a)
        }
        return result.sorted()
    }

    static func reducedShape(_ shape: [Int], _ axes: [Int], keepDims: Bool) -> [Int] {
        var out = [Int]()
        for (i, d) in shape.enumerated() {
            if axes.contains(i) {
                if keepDims { out.append(1) }
            } else {
                out.append(d)
            }
        }
        return out
    }

    static func reduceSpec(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        let name = { "\(op)" }
        if x.dtype == .bool { throw ShapeError(name(), "bool tensors are reduced as int64; cast first") }
        let normalized = try normalizedAxes(name(), axes, rank: x.shape.count)
        if normalized != axes { throw ShapeError(name(), "axes must be normalized and sorted, got \(axes)") }
        if (op == .max || op == .min) && axes.contains(where: { x.shape[$0] == 0 }) {
            throw ShapeError(name(), "cannot take the \(op) over an empty axis of shape \(x.shape)")
        }
        return TensorSpec(reducedShape(x.shape, axes, keepDims: keepDims), x.dtype)
    }

    static func argReduceSpec(_ op: ArgReduceOp, _ axis: Int, _ keepDims: Bool, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        guard axis >= 0 && axis < x.shape.count else {
            throw ShapeError("\(op)", "axis \(axis) is out of range for a tensor of rank \(x.shape.count)")
        }
        if x.shape[axis] == 0 { throw ShapeError("\(op)", "cannot take the \(op) over an empty axis of shape \(x.shape)") }
        return TensorSpec(reducedShape(x.shape, [axis], keepDims: keepDims), .int64)
    }

    /// `t` with the reduced axes restored as size 1, then broadcast to `shape`.
    static func expandBack(_ t: Tensor, _ axes: [Int], _ keepDims: Bool, to shape: [Int]) -> Tensor {
        let kept = keepDims ? t : t.reshaped(to: reducedShape(shape, axes, keepDims: true))
        return kept.expanded(to: shape)
    }

    static func reduceVJP(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool, _ x: Tensor, _ g: Tensor) -> Tensor {
        let gx = expandBack(g, axes, keepDims, to: x.shape)
        switch op {
        case .sum:
            return gx
        case .prod:
            // d/dx_i prod = product of the others, computed without dividing by zeros:
            // with no zero it is prod/x_i; with one zero only that element gets the others'
            // product; with more, every entry is zero.
            let zero = Tensor.scalar(0, dtype: x.dtype)
            let isZero = x .== zero
            let zeros = isZero.cast(to: x.dtype).sum(axes: axes, keepDims: true).expanded(to: x.shape)
            let nonZeroProduct = Tensor.where(isZero, Tensor.scalar(1, dtype: x.dtype), x)
                .prod(axes: axes, keepDims: true).expanded(to: x.shape)
            let safeX = Tensor.where(isZero, Tensor.scalar(1, dtype: x.dtype), x)
            let noZero = nonZeroProduct / safeX
            let oneZero = Tensor.where(isZero, nonZeroProduct, zero)
            let others = Tensor.where(zeros .== 0, noZero, Tensor.where(zeros .== 1, oneZero, zero))
            return gx * others
        case .max, .min:
            // Ties share the gradient equally.
            let result = Dispatch.run1(.reduce(op, axes: axes, keepDims: true), [x])
            let mask = (x .== result.expanded(to: x.shape)).cast(to: x.dtype)
            let counts = mask.sum(axes: axes, keepDims: true).expanded(to: x.shape)
            return gx * mask / counts
        }
    }

    static func cumsumSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        guard axis >= 0 && axis < x.shape.count else {
            throw ShapeError("cumsum", "axis \(axis) is out of range for a tensor of rank \(x.shape.count)")
        }
        if x.dtype == .bool || x.dtype == .int32 { throw ShapeError("cumsum", "\(x.dtype) tensors are summed as int64; cast first") }
        return x
    }

    /// Each input element reaches every later running sum: the cotangent summed from the
    /// other end.
    static func cumsumVJP(_ axis: Int, _ reverse: Bool, _ g: Tensor) -> Tensor {
        Dispatch.run1(.cumsum(axis: axis, reverse: !reverse), [g])
    }

    static func reduce(_ op: ReduceOp, _ x: Tensor, _ axes: [Int]?, _ keepDims: Bool) -> Tensor {
        let normalized: [Int]
        do {
            normalized = try normalizedAxes("\(op)", axes ?? Array(0..<x.rank), rank: x.rank)
        } catch {
            fatalError(error.message)
        }
        let input = x.dtype == .bool || (op == .sum || op == .prod) && x.dtype == .int32 ? x.cast(to: .int64) : x
        return Dispatch.run1(.reduce(op, axes: normalized, keepDims: keepDims), [input])
    }
}

// MARK: Forward mode and batching

extension Reduction {
    static func reduceJVP(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool, _ x: Tensor, _ t: Tensor) -> Tensor {
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
}


extension Tensor {
    /// Sum over `axes` (all when nil). Integer and bool tensors sum to int64, as in PyTorch.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { Reduction.reduce(.sum, self, axes, keepDims) }
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }
    public func prod(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { Reduction.reduce(.prod, self, axes, keepDims) }
    public func prod(axis: Int, keepDims: Bool = false) -> Tensor { prod(axes: [axis], keepDims: keepDims) }
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { Reduction.reduce(.max, self, axes, keepDims) }
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { Reduction.reduce(.min, self, axes, keepDims) }
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    /// Running sums along `axis` (torch.cumsum); integer and bool tensors sum in int64.
    public func cumsum(axis: Int) -> Tensor {
        guard let a = ShapeMath.normalize(axis: axis, rank: rank) else {
            fatalError("cumsum: axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        let input = dtype == .bool || dtype == .int32 ? cast(to: .int64) : self
        return Dispatch.run1(.cumsum(axis: a, reverse: false), [input])
    }

    /// The arithmetic mean over `axes` (all when nil). Needs a floating-point tensor.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        precondition(dtype.isFloatingPoint, "mean: expected a floating-point tensor, got \(dtype)")
        let n = (axes ?? Array(0..<rank)).reduce(1) { $0 * shape[ShapeMath.normalize(axis: $1, rank: rank) ?? 0] }
        return sum(axes: axes, keepDims: keepDims) / Double(n)
    }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Variance with Bessel's `correction` (1 is the unbiased estimate, as torch.var).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let n = (axes ?? Array(0..<rank)).reduce(1) { $0 * shape[ShapeMath.normalize(axis: $1, rank: rank) ?? 0] }
        let centered = self - mean(axes: axes, keepDims: true)
        return (centered * centered).sum(axes: axes, keepDims: keepDims) / Double(Swift.max(n - correction, 0))
    }
    public func variance(axis: Int, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        variance(axes: [axis], correction: correction, keepDims: keepDims)
    }

    public func standardDeviation(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        variance(axes: axes, correction: correction, keepDims: keepDims).sqrt()
    }

    /// log(sum(exp(x))) computed stably by subtracting the maximum first.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let m = noGrad { max(axes: axes, keepDims: true) }
        // A row of -inf would give nan from inf - inf; its max is replaced by 0.
        let safe = Tensor.where(m.abs() .== Double.infinity, Tensor.scalar(0, dtype: m.dtype), m)
        let result = (self - safe).exp().sum(axes: axes, keepDims: true).log() + safe
        return keepDims ? result : result.squeezed(axes: axes.map { $0.map { ShapeMath.normalize(axis: $0, rank: rank)! } } ?? Array(0..<rank))
    }

    /// exp(x) / sum(exp(x)) along `axis`, shifted by the maximum for stability (in float32
    /// under `autocast`).
    public func softmax(axis: Int = -1) -> Tensor {
        let x = Autocast.widened(self)
        let shifted = x - noGrad { x.max(axis: axis, keepDims: true) }
        let e = shifted.exp()
        return e / e.sum(axis: axis, keepDims: true)
    }

    /// x - logsumexp(x) along `axis` (in float32 under `autocast`).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let x = Autocast.widened(self)
        let shifted = x - noGrad { x.max(axis: axis, keepDims: true) }
        return shifted - shifted.exp().sum(axis: axis, keepDims: true).log()
    }

    /// Index of the largest element along `axis`, or in the flattened tensor when nil (int64).
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argReduce(.argmax, axis, keepDims) }
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argReduce(.argmin, axis, keepDims) }

    private func argReduce(_ op: ArgReduceOp, _ axis: Int?, _ keepDims: Bool) -> Tensor {
        guard let axis else { return flattened().argReduce(op, 0, false) }
        guard let a = ShapeMath.normalize(axis: axis, rank: rank) else {
            fatalError("\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        return Dispatch.run1(.argReduce(op, axis: a, keepDims: keepDims), [self])
    }

    /// Sums broadcast axes away so the result has `shape` (the adjoint of broadcasting).
    public func sum(toShape shape: [Int]) -> Tensor {
        if self.shape == shape { return self }
        let lead = rank - shape.count
        var axes = Array(0..<lead)
        for (i, d) in shape.enumerated() where d == 1 && self.shape[lead + i] != 1 { axes.append(lead + i) }
        let summed = sum(axes: axes, keepDims: true)
        return summed.reshaped(to: shape)
    }
}

// MARK: - ONNX mapping

extension Reduction {
    static func reduceONNX(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        let name: String
        switch op {
        case .sum: name = "ReduceSum"
        case .prod: name = "ReduceProd"
        case .max: name = "ReduceMax"
        case .min: name = "ReduceMin"
        }
        let keep = ONNXAttribute("keepdims", .int(keepDims ? 1 : 0))
        // An empty axes list means every axis in ONNX and none in Ember.
        if axes.isEmpty { return b.node("Identity", x.names, [], outputs: 1)[0] }
        // ReduceSum takes its axes as an input from opset 13, the others from 18.
        if op == .sum || b.opset >= 18 { return b.node(name, [x.names[0], b.int64s(axes)], [keep], outputs: 1)[0] }
        return b.node(name, x.names, [ONNXAttribute("axes", .ints(axes)), keep], outputs: 1)[0]
    }
}
