/// Shape and layout operations: reshape, permute, expand, slice (views sharing storage
/// where the layout allows), and pad, concatenate, flip, copy (new tensors).
enum Movement {
    // MARK: Views

    /// The result of a movement primitive as a view of `x`, when one exists.
    static func view(_ primitive: Primitive, _ x: Tensor) -> Tensor? {
        switch primitive {
        case .reshape(let shape):
            if x.isContiguous {
                return x.sameLayout(shape: shape, strides: ShapeMath.contiguousStrides(shape))
            }
            return reshapedStrides(x, shape).map { x.sameLayout(shape: shape, strides: $0) }
        case .permute(let p):
            return x.sameLayout(shape: p.map { x.shape[$0] }, strides: p.map { x.strides[$0] })
        case .expand(let shape):
            return x.sameLayout(shape: shape, strides: StridedLoop.broadcastStrides(x, to: shape))
        case .stopGradient:
            return x.sameLayout()
        case .slice(let ranges):
            var offset = x.offset
            for (axis, r) in ranges.enumerated() where r.count > 0 { offset += r.start * x.strides[axis] }
            return x.sameLayout(shape: ranges.map(\.count), strides: zip(x.strides, ranges).map { $0 * $1.step }, offset: offset)
        default:
            return nil
        }
    }

    /// Strides that read a strided tensor in row-major order under a new shape, or nil when
    /// a copy is needed (the algorithm of PyTorch's computeStride: match groups of axes
    /// whose element counts agree and which are contiguous among themselves).
    static func reshapedStrides(_ x: Tensor, _ newShape: [Int]) -> [Int]? {
        if x.count == 0 { return ShapeMath.contiguousStrides(newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewAxis = newShape.count - 1
        var chunkBase = x.strides.last ?? 1
        var tensorElements = 1, viewElements = 1
        var axis = x.rank - 1
        while axis >= 0 {
            tensorElements *= x.shape[axis]
            if axis == 0 || (x.shape[axis - 1] != 1 && x.strides[axis - 1] != tensorElements * chunkBase) {
                while viewAxis >= 0 && (viewElements < tensorElements || newShape[viewAxis] == 1) {
                    newStrides[viewAxis] = viewElements * chunkBase
                    viewElements *= newShape[viewAxis]
                    viewAxis -= 1
                }
                if viewElements != tensorElements { return nil }
                if axis > 0 {
                    chunkBase = x.strides[axis - 1]
                    tensorElements = 1
                    viewElements = 1
                }
            }
            axis -= 1
        }
        return viewAxis == -1 ? newStrides : nil
    }

    // MARK: Shape rules

    static func reshapeSpec(_ shape: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if ShapeMath.count(shape) != ShapeMath.count(x.shape) || shape.contains(where: { $0 < 0 }) {
            throw ShapeError("reshape", "cannot reshape \(x.shape) (\(ShapeMath.count(x.shape)) elements) to \(shape)")
        }
        return TensorSpec(shape, x.dtype)
    }

    static func permuteSpec(_ p: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if p.sorted() != Array(0..<x.shape.count) {
            throw ShapeError("permute", "\(p) is not a permutation of the axes of a rank-\(x.shape.count) tensor \(x.shape)")
        }
        return TensorSpec(p.map { x.shape[$0] }, x.dtype)
    }

    static func expandSpec(_ shape: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        let lead = shape.count - x.shape.count
        if lead < 0 || x.shape.enumerated().contains(where: { $1 != 1 && $1 != shape[lead + $0] }) {
            throw ShapeError("expand", "cannot broadcast \(x.shape) to \(shape)")
        }
        return TensorSpec(shape, x.dtype)
    }

    static func sliceSpec(_ ranges: [SliceRange], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if ranges.count != x.shape.count { throw ShapeError("slice", "expected \(x.shape.count) ranges for shape \(x.shape), got \(ranges.count)") }
        for (axis, r) in ranges.enumerated() where r.start < 0 || r.end > x.shape[axis] || r.start > r.end || r.step < 1 {
            throw ShapeError("slice", "range \(r.start)..<\(r.end) step \(r.step) is invalid for axis \(axis) of size \(x.shape[axis])")
        }
        return TensorSpec(ranges.map(\.count), x.dtype)
    }

    static func padSpec(_ padding: [Padding], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if padding.count != x.shape.count { throw ShapeError("pad", "expected \(x.shape.count) paddings for shape \(x.shape), got \(padding.count)") }
        let shape = zip(x.shape, padding).map { $0 + $1.before + $1.after }
        // The crops at the two ends may not overlap, even when one end pads.
        if shape.contains(where: { $0 < 0 }) || zip(x.shape, padding).contains(where: { max(0, -$1.before) + max(0, -$1.after) > $0 }) {
            throw ShapeError("pad", "padding \(padding.map { ($0.before, $0.after) }) crops more than the shape \(x.shape) holds")
        }
        return TensorSpec(shape, x.dtype)
    }

    static func concatSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let first = inputs[0]
        guard axis >= 0 && axis < first.shape.count else {
            throw ShapeError("concat", "axis \(axis) is out of range for rank \(first.shape.count)")
        }
        var total = 0
        for input in inputs {
            var a = input.shape, b = first.shape
            if a.count == b.count { a[axis] = 0; b[axis] = 0 }
            if a != b || input.dtype != first.dtype {
                throw ShapeError("concat", "all tensors must match except along axis \(axis): got \(first) and \(input)")
            }
            total += input.shape[axis]
        }
        var shape = first.shape
        shape[axis] = total
        return TensorSpec(shape, first.dtype)
    }

    static func flipSpec(_ axes: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if axes.contains(where: { $0 < 0 || $0 >= x.shape.count }) {
            throw ShapeError("flip", "axes \(axes) are out of range for rank \(x.shape.count)")
        }
        return x
    }

    static func copySpec(_ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { inputs[0] }

    // MARK: Derivative rules

    static func permuteVJP(_ p: [Int], _ g: Tensor) -> Tensor {
        var inverse = [Int](repeating: 0, count: p.count)
        for (i, axis) in p.enumerated() { inverse[axis] = i }
        return g.permuted(inverse)
    }

    /// Places g's elements back at the sliced positions, zeros elsewhere: for a step s,
    /// interleave s-1 zeros after each element (pad a new axis, then merge), then pad to size.
    static func sliceVJP(_ ranges: [SliceRange], _ x: Tensor, _ g: Tensor) -> Tensor {
        var result = g
        for (axis, r) in ranges.enumerated() {
            if r.step > 1 && r.count > 0 {
                var shape = result.shape
                let spread = result.unsqueezed(axis: axis + 1)
                var padding = spread.shape.map { _ in Padding(0, 0) }
                padding[axis + 1] = Padding(0, r.step - 1)
                shape[axis] = r.count * r.step
                result = spread.padded(padding).reshaped(to: shape)
            }
            // `result` now holds g's elements at multiples of the step from 0; shift to r.start
            // and pad or crop (only trailing zeros) to x's size.
            let before = r.count == 0 ? 0 : r.start
            var padding = result.shape.map { _ in Padding(0, 0) }
            padding[axis] = Padding(before, x.shape[axis] - before - result.shape[axis])
            result = result.padded(padding)
        }
        return result
    }

    static func padVJP(_ padding: [Padding], _ g: Tensor) -> Tensor {
        g.padded(padding.map { Padding(-$0.before, -$0.after) })
    }

    static func concatVJP(_ axis: Int, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        var start = 0
        return inputs.map { input in
            defer { start += input.shape[axis] }
            return g.narrow(axis: axis, start: start, count: input.shape[axis])
        }
    }

    static func axis(_ op: String, _ axis: Int, rank: Int) -> Int {
        guard let a = ShapeMath.normalize(axis: axis, rank: rank) else {
            fatalError("\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        return a
    }
}

// MARK: - Public API

extension Tensor {
    /// The same elements under a new shape; one entry may be -1 (inferred). A view when the
    /// layout allows, else a copy.
    public func reshaped(to shape: [Int]) -> Tensor {
        var resolved = shape
        if let unknown = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            precondition(known != 0 && count % known == 0, "reshape: cannot reshape \(self.shape) (\(count) elements) to \(shape)")
            resolved[unknown] = count / known
        }
        if resolved == self.shape { return self }
        return Dispatch.run1(.reshape(resolved), [self])
    }

    public func flattened() -> Tensor { reshaped(to: [-1]) }

    /// Merges axes start...end into one.
    public func flattened(from start: Int, to end: Int = -1) -> Tensor {
        let s = Movement.axis("flatten", start, rank: rank), e = Movement.axis("flatten", end, rank: rank)
        return reshaped(to: Array(shape[..<s]) + [ShapeMath.count(Array(shape[s...e]))] + Array(shape[(e + 1)...]))
    }

    /// Reorders the axes: result axis i is input axis `order[i]` (a view).
    public func permuted(_ order: [Int]) -> Tensor {
        let p = order.map { Movement.axis("permute", $0, rank: rank) }
        if p == Array(0..<rank) { return self }
        return Dispatch.run1(.permute(p), [self])
    }

    public func permuted(_ order: Int...) -> Tensor { permuted(order) }

    /// Swaps two axes (a view).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(Movement.axis("transpose", a, rank: rank), Movement.axis("transpose", b, rank: rank))
        return permuted(p)
    }

    /// Removes size-1 axes (the given ones, or all).
    public func squeezed(axes: [Int]? = nil) -> Tensor {
        let drop = Set((axes ?? Array(0..<rank)).map { Movement.axis("squeeze", $0, rank: rank) }.filter { shape[$0] == 1 })
        return reshaped(to: shape.enumerated().filter { !drop.contains($0.offset) }.map(\.element))
    }

    public func squeezed(axis: Int) -> Tensor { squeezed(axes: [axis]) }

    /// Inserts a size-1 axis at `axis` (negative counts from the end of the result).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = Movement.axis("unsqueeze", axis, rank: rank + 1)
        var s = shape
        s.insert(1, at: a)
        return reshaped(to: s)
    }

    /// Broadcasts to `shape` without copying (size-1 and missing leading axes repeat).
    public func expanded(to shape: [Int]) -> Tensor {
        if shape == self.shape { return self }
        return Dispatch.run1(.expand(shape), [self])
    }

    public func broadcast(like other: Tensor) -> Tensor { expanded(to: other.shape) }

    /// Elements start..<start+count along `axis` (a view).
    public func narrow(axis: Int, start: Int, count: Int) -> Tensor {
        let a = Movement.axis("narrow", axis, rank: rank)
        var ranges = shape.map { SliceRange(start: 0, end: $0) }
        ranges[a] = SliceRange(start: start, end: start + count)
        return Dispatch.run1(.slice(ranges), [self])
    }

    /// A dense copy with its own storage (PyTorch's `clone`): later in-place updates of
    /// either leave the other alone.
    public func cloned() -> Tensor { Dispatch.run1(.copy, [self]) }

    /// A dense copy, or the tensor itself when already dense.
    public func contiguous() -> Tensor {
        isContiguous ? self : Dispatch.run1(.copy, [self])
    }

    /// Pads each axis with `value` (`padding[i]` for axis i; negative amounts crop).
    public func padded(_ padding: [Padding], value: Double = 0) -> Tensor {
        precondition(padding.count == rank, "pad: expected \(rank) paddings for shape \(shape), got \(padding.count)")
        if padding.allSatisfy({ $0.before == 0 && $0.after == 0 }) { return self }
        return Dispatch.run1(.pad(padding, value: value), [self])
    }

    /// Reverses the order of elements along `axes`.
    public func flipped(axes: [Int]) -> Tensor {
        Dispatch.run1(.flip(axes: axes.map { Movement.axis("flip", $0, rank: rank) }), [self])
    }

    /// Splits into pieces of the given sizes along `axis` (views).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = Movement.axis("split", axis, rank: rank)
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to \(shape[a]), the size of axis \(axis) of \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrow(axis: a, start: start, count: size)
        }
    }

    /// Splits into `chunks` nearly equal pieces along `axis`; the last may be smaller (torch.chunk).
    public func chunked(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        let a = Movement.axis("chunk", axis, rank: rank)
        let size = (shape[a] + chunks - 1) / Swift.max(chunks, 1)
        var sizes = [Int]()
        var left = shape[a]
        while left > 0 {
            sizes.append(Swift.min(size, left))
            left -= size
        }
        return split(sizes: sizes, axis: a)
    }

    /// Joins tensors along an existing axis.
    public static func concatenate(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: needs at least one tensor")
        if tensors.count == 1 { return tensors[0] }
        let a = Movement.axis("concatenate", axis, rank: tensors[0].rank)
        let t = tensors.dropFirst().reduce(tensors[0].dtype) { DType.promoted($0, $1.dtype) }
        return Dispatch.run1(.concat(axis: a), tensors.map { $0.cast(to: t) })
    }

    /// Joins tensors of one shape along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: needs at least one tensor")
        return concatenate(tensors.map { $0.unsqueezed(axis: axis < 0 ? axis + tensors[0].rank + 1 : axis) }, axis: axis < 0 ? axis + tensors[0].rank + 1 : axis)
    }
}

// MARK: - ONNX mappings

extension Movement {
    /// Reshapes and expansions write their target from the output's dimensions, which may be
    /// products of dynamic axes.
    static func outputShape(_ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        b.shapeTensor(x.outputs[0].shape.indices.map { b.outputDimension(0, axis: $0) })
    }

    static func reshapeONNX(_ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        b.node("Reshape", [x.names[0], outputShape(b, x)], [], outputs: 1)[0]
    }

    static func expandONNX(_ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        // Expand also adds leading axes, as Ember's expand.
        b.node("Expand", [x.names[0], outputShape(b, x)], [], outputs: 1)[0]
    }

    /// Axes taken whole are left out; a slice of a dynamic axis from a fixed start ends where
    /// its output's length says; one that keeps to the axis's end starts from it (negative).
    static func sliceONNX(_ ranges: [SliceRange], _ b: ONNXBuilder, _ x: ONNXOperands) throws(ONNXMappingError) -> String {
        var starts = [String](), ends = [String](), axes = [Int](), steps = [Int]()
        for (axis, range) in ranges.enumerated() {
            let input = b.inputDimension(0, axis: axis), output = b.outputDimension(0, axis: axis)
            if b.sliceCountsFromEnd(axis: axis) {
                let length = x.inputs[0].shape[axis]
                starts.append(b.int64s([range.start - length]))
                ends.append(b.int64s([range.end == length ? Int(Int64.max) : range.end - length]))
                steps.append(range.step)
                axes.append(axis)
                continue
            }
            if input == output && range.start == 0 && range.step == 1 { continue }
            starts.append(b.int64s([range.start]))
            steps.append(range.step)
            axes.append(axis)
            if output.fixedValue != nil {
                ends.append(b.int64s([range.end]))
            } else if range.step == 1 {
                ends.append(b.node("Add", [b.int64s([range.start]), b.shapeTensor([output])], [], outputs: 1)[0])
            } else {
                throw ONNXMappingError("slice: a step of \(range.step) along dynamic axis \(axis) cannot be exported")
            }
        }
        if axes.isEmpty { return b.node("Identity", x.names, [], outputs: 1)[0] }
        let concat = { (parts: [String]) in parts.count == 1 ? parts[0] : b.node("Concat", parts, [ONNXAttribute("axis", .int(0))], outputs: 1)[0] }
        return b.node("Slice", [x.names[0], concat(starts), concat(ends), b.int64s(axes), b.int64s(steps)], [], outputs: 1)[0]
    }

    /// Negative amounts crop, in ONNX's Pad as in Ember's.
    static func padONNX(_ padding: [Padding], _ value: Double, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        let pads = padding.map(\.before) + padding.map(\.after)
        return b.node("Pad", [x.names[0], b.int64s(pads), b.scalar(value, x.inputs[0].dtype)],
                      [ONNXAttribute("mode", .string("constant"))], outputs: 1)[0]
    }

    static func flipONNX(_ axes: [Int], _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        if axes.isEmpty { return b.node("Identity", x.names, [], outputs: 1)[0] }
        let n = axes.count
        return b.node("Slice", [x.names[0], b.int64s(Array(repeating: -1, count: n)), b.int64s(Array(repeating: Int(Int64.min), count: n)),
                                b.int64s(axes), b.int64s(Array(repeating: -1, count: n))], [], outputs: 1)[0]
    }
}
