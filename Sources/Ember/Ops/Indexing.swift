/// Gather and scatter along an axis, index-select and index-add, one-hot encoding, and
/// NumPy-style subscripts (integers, ranges with steps, new axes, ellipsis).
enum Indexing {
    static func checkIndex(_ op: String, _ index: TensorSpec) throws(ShapeError) {
        if index.dtype != .int64 && index.dtype != .int32 {
            throw ShapeError(op, "indices must be int32 or int64, got \(index.dtype)")
        }
    }

    static func checkAxis(_ op: String, _ axis: Int, _ rank: Int) throws(ShapeError) {
        if axis < 0 || axis >= rank { throw ShapeError(op, "axis \(axis) is out of range for rank \(rank)") }
    }

    static func gatherSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0], index = inputs[1]
        try checkIndex("gather", index)
        try checkAxis("gather", axis, x.shape.count)
        if index.shape.count != x.shape.count || zip(index.shape, x.shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 > $0.element.1 }) {
            throw ShapeError("gather", "index shape \(index.shape) must have the rank of \(x.shape) and no larger size off axis \(axis)")
        }
        return TensorSpec(index.shape, x.dtype)
    }

    static func scatterAddSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let base = inputs[0], index = inputs[1], src = inputs[2]
        try checkIndex("scatter_add", index)
        try checkAxis("scatter_add", axis, base.shape.count)
        if src.shape != index.shape || src.dtype != base.dtype {
            throw ShapeError("scatter_add", "source \(src) must have the index's shape \(index.shape) and the base's dtype \(base.dtype)")
        }
        if index.shape.count != base.shape.count || zip(index.shape, base.shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 > $0.element.1 }) {
            throw ShapeError("scatter_add", "index shape \(index.shape) must have the rank of \(base.shape) and no larger size off axis \(axis)")
        }
        return base
    }

    static func indexSelectSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0], index = inputs[1]
        try checkIndex("index_select", index)
        try checkAxis("index_select", axis, x.shape.count)
        if index.shape.count != 1 { throw ShapeError("index_select", "the index must be 1-D, got shape \(index.shape)") }
        var shape = x.shape
        shape[axis] = index.shape[0]
        return TensorSpec(shape, x.dtype)
    }

    static func indexAddSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let base = inputs[0], index = inputs[1], src = inputs[2]
        try checkIndex("index_add", index)
        try checkAxis("index_add", axis, base.shape.count)
        if index.shape.count != 1 { throw ShapeError("index_add", "the index must be 1-D, got shape \(index.shape)") }
        var expected = base.shape
        expected[axis] = index.shape[0]
        if src.shape != expected || src.dtype != base.dtype {
            throw ShapeError("index_add", "source must be \(TensorSpec(expected, base.dtype)), got \(src)")
        }
        return base
    }

    static func gatherVJP(_ axis: Int, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        let x = inputs[0]
        return [Dispatch.run1(.scatterAdd(axis: axis), [Tensor.zeros(x.shape, dtype: g.dtype), inputs[1], g]), nil]
    }

    static func scatterAddVJP(_ axis: Int, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        [g, nil, Dispatch.run1(.gather(axis: axis), [g, inputs[1]])]
    }

    static func indexSelectVJP(_ axis: Int, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        [Dispatch.run1(.indexAdd(axis: axis), [Tensor.zeros(inputs[0].shape, dtype: g.dtype), inputs[1], g]), nil]
    }

    static func indexAddVJP(_ axis: Int, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        [g, nil, Dispatch.run1(.indexSelect(axis: axis), [g, inputs[1]])]
    }
}

// MARK: Forward mode and batching

extension Indexing {
    /// A per-example index [B, K] as a gather index of `shape`: along the batch axis and `axis`.
    static func spread(_ index: Tensor, along axis: Int, to shape: [Int]) -> Tensor {
        var indexShape = [Int](repeating: 1, count: shape.count)
        indexShape[0] = index.shape[0]
        indexShape[axis] = index.shape[1]
        return index.reshaped(to: indexShape).expanded(to: shape)
    }

    /// Inputs (x, index [K]).
    static func indexSelectBatch(_ axis: Int, _ x: BatchedOperands) -> Tensor {
        let values = x.materialized(0)
        guard x.batched[1] else { return Dispatch.run1(.indexSelect(axis: axis + 1), [values, x.values[1]]) }
        // Each example picks its own slices: a gather with the index laid along the axis.
        var shape = values.shape
        shape[axis + 1] = x.values[1].shape[1]
        return Dispatch.run1(.gather(axis: axis + 1), [values, spread(x.values[1], along: axis + 1, to: shape)])
    }

    /// Inputs (base, index [K], source).
    static func indexAddBatch(_ axis: Int, _ x: BatchedOperands) -> Tensor {
        let base = x.materialized(0), source = x.materialized(2)
        guard x.batched[1] else { return Dispatch.run1(.indexAdd(axis: axis + 1), [base, x.values[1], source]) }
        // Each example adds at its own slices: a scatter-add with the index laid along the axis.
        return Dispatch.run1(.scatterAdd(axis: axis + 1), [base, spread(x.values[1], along: axis + 1, to: source.shape), source])
    }
}


/// One entry of a tensor subscript.
public enum TensorIndex {
    /// One position (negative counts from the end); the axis is removed.
    case index(Int)
    /// Python's start:end:step; nil bounds mean the whole axis in the step's direction.
    case range(start: Int?, end: Int?, step: Int)
    /// Inserts a size-1 axis.
    case newAxis
    /// Stands for as many whole axes as needed.
    case ellipsis

    public static let all = TensorIndex.range(start: nil, end: nil, step: 1)

    public static func stride(from start: Int? = nil, to end: Int? = nil, by step: Int) -> TensorIndex {
        .range(start: start, end: end, step: step)
    }
}

/// A value usable in a tensor subscript (`x[0, 1..<3, TensorIndex.all]`): integers, ranges
/// and ``TensorIndex`` itself.
public protocol TensorIndexConvertible {
    var tensorIndex: TensorIndex { get }
}

extension TensorIndex: TensorIndexConvertible { public var tensorIndex: TensorIndex { self } }
extension Int: TensorIndexConvertible { public var tensorIndex: TensorIndex { .index(self) } }
extension Range: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .range(start: lowerBound, end: upperBound, step: 1) }
}
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .range(start: lowerBound, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .range(start: lowerBound, end: nil, step: 1) }
}
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .range(start: nil, end: upperBound, step: 1) }
}
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .range(start: nil, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}

extension Tensor {
    /// NumPy-style subscript: `x[0]`, `x[1..<3, TensorIndex.all]`, `x[.ellipsis, -1]`,
    /// `x[TensorIndex.stride(by: -1)]`. Results are views except where a negative step flips.
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        subscripted(indices.map(\.tensorIndex))
    }

    public func subscripted(_ indices: [TensorIndex]) -> Tensor {
        let consuming = indices.filter {
            if case .newAxis = $0 { return false }
            if case .ellipsis = $0 { return false }
            return true
        }.count
        precondition(consuming <= rank, "subscript: \(consuming) indices for a tensor of rank \(rank) \(shape)")
        var expanded = [TensorIndex]()
        var sawEllipsis = false
        for index in indices {
            if case .ellipsis = index {
                precondition(!sawEllipsis, "subscript: only one ellipsis is allowed")
                sawEllipsis = true
                expanded += Array(repeating: TensorIndex.all, count: rank - consuming)
            } else {
                expanded.append(index)
            }
        }
        if !sawEllipsis { expanded += Array(repeating: TensorIndex.all, count: rank - consuming) }

        var ranges = [SliceRange]()
        var flips = [Int]()
        var resultShape = [Int]()
        var axis = 0
        for index in expanded {
            switch index {
            case .newAxis:
                resultShape.append(1)
            case .ellipsis:
                break
            case .index(let i):
                let n = shape[axis]
                let p = i < 0 ? i + n : i
                precondition(p >= 0 && p < n, "subscript: index \(i) is out of range for axis \(axis) of size \(n)")
                ranges.append(SliceRange(start: p, end: p + 1))
                axis += 1
            case .range(let start, let end, let step):
                precondition(step != 0, "subscript: the step cannot be zero")
                let n = shape[axis]
                let (s, e) = Tensor.pythonBounds(start, end, step, n)
                if step > 0 {
                    ranges.append(SliceRange(start: s, end: Swift.max(s, e), step: step))
                } else {
                    // Flip the axis; position p becomes n - 1 - p.
                    flips.append(axis)
                    let fs = n - 1 - s, fe = n - 1 - e
                    ranges.append(SliceRange(start: Swift.min(fs, n), end: Swift.max(Swift.min(fs, n), Swift.min(fe, n)), step: -step))
                }
                resultShape.append(ranges.last!.count)
                axis += 1
            }
        }
        let source = flips.isEmpty ? self : flipped(axes: flips)
        let sliced = ranges.enumerated().allSatisfy({ $0.element == SliceRange(start: 0, end: shape[$0.offset]) })
            ? source : Dispatch.run1(.slice(ranges), [source])
        return sliced.reshaped(to: resultShape)
    }

    /// Python's slice.indices: clamped start and end for a step's direction.
    static func pythonBounds(_ start: Int?, _ end: Int?, _ step: Int, _ n: Int) -> (Int, Int) {
        func clamp(_ v: Int, _ low: Int, _ high: Int) -> Int { Swift.min(Swift.max(v, low), high) }
        if step > 0 {
            let s = start.map { clamp($0 < 0 ? $0 + n : $0, 0, n) } ?? 0
            let e = end.map { clamp($0 < 0 ? $0 + n : $0, 0, n) } ?? n
            return (s, e)
        }
        let s = start.map { clamp($0 < 0 ? $0 + n : $0, -1, n - 1) } ?? n - 1
        let e = end.map { clamp($0 < 0 ? $0 + n : $0, -1, n - 1) } ?? -1
        return (s, e)
    }

    /// torch.gather: picks along `axis` by `index` (same rank; result has index's shape).
    public func gather(axis: Int, index: Tensor) -> Tensor {
        Dispatch.run1(.gather(axis: Movement.axis("gather", axis, rank: rank)), [self, index])
    }

    /// torch.scatter_add: a copy of self with `source` added at `index` along `axis`.
    public func scatterAdding(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        Dispatch.run1(.scatterAdd(axis: Movement.axis("scatter_add", axis, rank: rank)), [self, index, source.cast(to: dtype)])
    }

    /// torch.index_select: the slices at a 1-D `index` along `axis`.
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        Dispatch.run1(.indexSelect(axis: Movement.axis("index_select", axis, rank: rank)), [self, index])
    }

    /// torch.index_add: a copy of self with `source`'s slices added at `index` along `axis`.
    public func indexAdding(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        Dispatch.run1(.indexAdd(axis: Movement.axis("index_add", axis, rank: rank)), [self, index, source.cast(to: dtype)])
    }

    /// One-hot encoding of integer class indices: a new last axis of `classes` entries.
    /// A scatter, so that an index outside 0..<classes stops with the index and the bound
    /// (in compiled code too) instead of giving a row of zeros.
    public func oneHot(classes: Int, dtype: DType = .float32) -> Tensor {
        precondition(!self.dtype.isFloatingPoint, "oneHot: expected integer class indices, got \(self.dtype)")
        let index = unsqueezed(axis: -1)
        return Tensor.zeros(shape + [classes], dtype: dtype)
            .scatterAdding(axis: -1, index: index, source: Tensor.ones(index.shape, dtype: dtype))
    }
}

// MARK: - ONNX mappings

extension Indexing {
    static func scatterAddONNX(_ axis: Int, _ b: ONNXBuilder, _ x: ONNXOperands) throws(ONNXMappingError) -> String {
        guard b.opset >= 16 else { throw ONNXMappingError("scatter_add needs ScatterElements' reduction, from opset 16 (this export: \(b.opset))") }
        return b.node("ScatterElements", x.names, [ONNXAttribute("axis", .int(axis)), ONNXAttribute("reduction", .string("add"))], outputs: 1)[0]
    }

    /// index_add as a scatter_add whose index is the 1-D index spread over the source's shape.
    static func indexAddONNX(_ axis: Int, _ b: ONNXBuilder, _ x: ONNXOperands) throws(ONNXMappingError) -> String {
        guard b.opset >= 16 else { throw ONNXMappingError("index_add needs ScatterElements' reduction, from opset 16 (this export: \(b.opset))") }
        let rank = x.inputs[2].shape.count
        var along = Array(repeating: 1, count: rank)
        along[axis] = -1
        let column = b.node("Reshape", [x.names[1], b.int64s(along)], [], outputs: 1)[0]
        let sourceShape = b.shapeTensor((0..<rank).map { b.inputDimension(2, axis: $0) })
        let index = b.node("Expand", [column, sourceShape], [], outputs: 1)[0]
        return b.node("ScatterElements", [x.names[0], index, x.names[2]],
                      [ONNXAttribute("axis", .int(axis)), ONNXAttribute("reduction", .string("add"))], outputs: 1)[0]
    }
}
