import Ember

/// Shape plumbing: shapes, reshapes, axes, slices, concatenation, padding and the
/// constants that exported graphs compute shapes with.
enum ONNXMovementOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("ReverseSequence", since: 10) { context in [try reverseSequence(context)] },
        ONNXOperator("Shape", readsShapeOnly: true) { context in
            let shape = try context.input(0).shape
            let rank = shape.count
            // Opset 15's start and end select a range of axes, clamped as Python slices are.
            func clamp(_ i: Int) -> Int { min(max(i < 0 ? i + rank : i, 0), rank) }
            let start = clamp(context.int("start", 0)), end = clamp(context.int("end", rank))
            let selected = start < end ? Array(shape[start..<end]) : []
            return [Tensor(selected.map { Int64($0) }, shape: [selected.count])]
        },
        ONNXOperator("Size", readsShapeOnly: true) { context in [Tensor.scalar(Double(try context.input(0).count), dtype: .int64)] },
        ONNXOperator("Constant") { context in [try constant(context)] },
        ONNXOperator("ConstantOfShape", since: 9) { context in
            let shape = try context.ints(0) ?? []
            try context.checkSize(shape)
            let value = context.tensor("value")
            guard value.map({ $0.count == 1 }) ?? true else { throw context.fail("'value' must hold one element") }
            return [Tensor.full(shape, value?.doubles[0] ?? 0, dtype: value?.dtype ?? .float32)]
        },
        ONNXOperator("EyeLike", since: 9, readsShapeOnly: true) { context in
            let x = try context.input(0)
            guard x.rank == 2 else { throw context.fail("expects a matrix, got \(x.shape)") }
            let dtype = context.has("dtype") ? ONNXElementType.dtype(Int32(context.int("dtype", 1))) : x.dtype
            guard let dtype else { throw context.fail("dtype \(context.int("dtype", 0)) is not one Ember holds") }
            let (rows, columns, k) = (x.shape[0], x.shape[1], context.int("k", 0))
            var values = [Double](repeating: 0, count: rows * columns)
            for row in 0..<rows where (0..<columns).contains(row + k) { values[row * columns + row + k] = 1 }
            return [Tensor(doubles: values, shape: [rows, columns], dtype: dtype)]
        },
        ONNXOperator("Reshape", since: 5) { context in
            let x = try context.input(0)
            guard let target = try context.ints(1) else { throw context.fail("input 1 (shape) is required") }
            let allowZero = context.int("allowzero", 0) != 0
            let shape = try target.enumerated().map { axis, dim -> Int in
                guard dim == 0 && !allowZero else { return dim }
                guard axis < x.rank else { throw context.fail("shape \(target) copies axis \(axis) of an input of rank \(x.rank)") }
                return x.shape[axis]
            }
            return [try reshape(x, shape, context)]
        },
        ONNXOperator("Flatten") { context in
            let x = try context.input(0)
            let axis = try ONNXReductionOperators.splitAxis(context.int("axis", 1), rank: x.rank, context)
            let front = x.shape[..<axis].reduce(1, *), back = x.shape[axis...].reduce(1, *)
            return [x.reshaped(to: [front, back])]
        },
        ONNXOperator("Transpose") { context in
            let x = try context.input(0)
            let order = context.ints("perm") ?? Array((0..<x.rank).reversed())
            guard order.sorted() == Array(0..<x.rank) else { throw context.fail("perm \(order) is not a permutation of \(x.rank) axes") }
            return [x.permuted(order)]
        },
        ONNXOperator("Squeeze") { context in [try squeeze(context.input(0), context.ints("axes"), context)] },
        ONNXOperator("Squeeze", since: 13) { context in [try squeeze(context.input(0), context.ints(1), context)] },
        ONNXOperator("Unsqueeze") { context in [try unsqueeze(context.input(0), context.ints("axes"), context)] },
        ONNXOperator("Unsqueeze", since: 13) { context in [try unsqueeze(context.input(0), context.ints(1), context)] },
        ONNXOperator("Concat", since: 4) { context in
            let inputs = context.presentInputs
            guard let first = inputs.first else { throw context.fail("needs at least one input") }
            let axis = try context.axis(try context.int("axis"), rank: first.rank)
            for x in inputs where x.rank != first.rank || (0..<x.rank).contains(where: { $0 != axis && x.shape[$0] != first.shape[$0] }) {
                throw context.fail("inputs of shapes \(inputs.map(\.shape)) cannot be joined along axis \(axis)")
            }
            let dtype = inputs.dropFirst().reduce(first.dtype) { DType.promoted($0, $1.dtype) }
            return [Tensor.concatenate(inputs.map { $0.cast(to: dtype) }, axis: axis)]
        },
        ONNXOperator("Split", since: 2) { context in try split(context, sizes: context.ints("split")) },
        ONNXOperator("Split", since: 13) { context in try split(context, sizes: context.ints(1)) },
        ONNXOperator("Slice") { context in
            try [slice(context.input(0), starts: context.ints("starts") ?? [], ends: context.ints("ends") ?? [],
                       axes: context.ints("axes"), steps: nil, context)]
        },
        ONNXOperator("Slice", since: 10) { context in
            try [slice(context.input(0), starts: context.ints(1) ?? [], ends: context.ints(2) ?? [],
                       axes: context.ints(3), steps: context.ints(4), context)]
        },
        ONNXOperator("Expand", since: 8) { context in
            let x = try context.input(0)
            guard let target = try context.ints(1) else { throw context.fail("input 1 (shape) is required") }
            let shape = try broadcastShape(x.shape, target, context)
            try context.checkSize(shape)
            return [x.expanded(to: shape)]
        },
        ONNXOperator("Tile", since: 6) { context in
            var x = try context.input(0)
            guard let repeats = try context.ints(1), repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
                throw context.fail("repeats must give a non-negative count for each of the \(x.rank) axes")
            }
            try context.checkSize(zip(x.shape, repeats).map(*))
            for (axis, count) in repeats.enumerated() where count != 1 {
                // Repeating the whole axis: a new axis in front of it, broadcast, then merged.
                var shape = x.shape
                shape.insert(count, at: axis)
                let merged = x.shape.enumerated().map { $0 == axis ? $1 * count : $1 }
                x = x.unsqueezed(axis: axis).expanded(to: shape).reshaped(to: merged)
            }
            return [x]
        },
        ONNXOperator("Range", since: 11) { context in
            let start = try context.input(0), limit = try context.input(1), delta = try context.input(2)
            guard let s = try context.doubles(0)?.first, let l = try context.doubles(1)?.first, let d = try context.doubles(2)?.first,
                  start.count == 1, limit.count == 1, delta.count == 1 else { throw context.fail("start, limit and delta must be scalars") }
            guard d != 0 else { throw context.fail("delta must not be 0") }
            let count = max(Int(((l - s) / d).rounded(.up)), 0)
            try context.checkSize([count])
            return [Tensor(doubles: (0..<count).map { s + Double($0) * d }, shape: [count], dtype: start.dtype)]
        },
        ONNXOperator("Pad", since: 2) { context in
            try [pad(context.input(0), pads: context.ints("pads") ?? [], value: context.float("value", 0), axes: nil, context)]
        },
        ONNXOperator("Pad", since: 11) { context in
            let value = try context.doubles(2)?.first ?? 0
            return try [pad(context.input(0), pads: context.ints(1) ?? [], value: value, axes: context.ints(3), context)]
        },
        ONNXOperator("CenterCropPad", since: 18) { context in
            let x = try context.input(0)
            guard let target = try context.ints(1) else { throw context.fail("input 1 (shape) is required") }
            let axes = try context.axes(context.ints("axes") ?? Array(0..<x.rank), rank: x.rank)
            guard target.count == axes.count, target.allSatisfy({ $0 >= 0 }) else { throw context.fail("shape \(target) must give a size for each of the axes \(axes)") }
            var padding = Array(repeating: Padding(0, 0), count: x.rank)
            for (size, axis) in zip(target, axes) {
                // Centered: a crop drops the odd element at the end, a pad adds it there.
                let n = x.shape[axis]
                padding[axis] = size < n ? Padding(-((n - size) / 2), -(n - size - (n - size) / 2))
                                         : Padding((size - n) / 2, size - n - (size - n) / 2)
            }
            return [x.padded(padding)]
        },
        ONNXOperator("Trilu", since: 14) { context in
            let x = try context.input(0)
            let k = try context.ints(1)?.first ?? 0
            return [context.int("upper", 1) != 0 ? x.triu(diagonal: k) : x.tril(diagonal: k)]
        },
        ONNXOperator("DepthToSpace", since: 11) { context in
            let x = try context.input(0), b = context.int("blocksize", 0)
            guard x.rank == 4, b > 0, x.shape[1] % (b * b) == 0 else { throw context.fail("needs [N, C, H, W] with C divisible by blocksize² (\(b))") }
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let columnFirst = context.string("mode", "DCR") == "CRD"
            let split = columnFirst ? x.reshaped(to: [n, c / (b * b), b, b, h, w]).permuted(0, 1, 4, 2, 5, 3)
                                    : x.reshaped(to: [n, b, b, c / (b * b), h, w]).permuted(0, 3, 4, 1, 5, 2)
            return [split.reshaped(to: [n, c / (b * b), h * b, w * b])]
        },
        ONNXOperator("SpaceToDepth") { context in
            let x = try context.input(0), b = context.int("blocksize", 0)
            guard x.rank == 4, b > 0, x.shape[2] % b == 0, x.shape[3] % b == 0 else { throw context.fail("needs [N, C, H, W] with H and W divisible by blocksize (\(b))") }
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            return [x.reshaped(to: [n, c, h / b, b, w / b, b]).permuted(0, 3, 5, 1, 2, 4).reshaped(to: [n, c * b * b, h / b, w / b])]
        },
    ]

    static func constant(_ context: ONNXNodeContext) throws -> Tensor {
        if let value = context.tensor("value") { return value }
        if context.has("value_float") { return Tensor.scalar(context.float("value_float", 0)) }
        if let values = context.floats("value_floats") { return Tensor(doubles: values, shape: [values.count], dtype: .float32) }
        if context.has("value_int") { return Tensor.scalar(Double(context.int("value_int", 0)), dtype: .int64) }
        if let values = context.ints("value_ints") { return Tensor(values.map { Int64($0) }, shape: [values.count]) }
        throw context.fail("needs a value (value, value_float(s) or value_int(s); strings and sparse values are not supported)")
    }

    static func reshape(_ x: Tensor, _ shape: [Int], _ context: ONNXNodeContext) throws -> Tensor {
        let inferred = shape.filter { $0 == -1 }.count
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        guard inferred <= 1, shape.allSatisfy({ $0 >= -1 }),
              inferred == 1 ? known > 0 && x.count % known == 0 : known == x.count else {
            throw context.fail("cannot reshape \(x.shape) (\(x.count) elements) to \(shape)")
        }
        return x.reshaped(to: shape)
    }

    static func squeeze(_ x: Tensor, _ axes: [Int]?, _ context: ONNXNodeContext) throws -> Tensor {
        guard let axes else { return x.squeezed() }
        let normalized = try context.axes(axes, rank: x.rank)
        guard normalized.allSatisfy({ x.shape[$0] == 1 }) else { throw context.fail("cannot squeeze axes \(axes) of shape \(x.shape)") }
        return x.squeezed(axes: normalized)
    }

    static func unsqueeze(_ x: Tensor, _ axes: [Int]?, _ context: ONNXNodeContext) throws -> Tensor {
        guard let axes else { throw context.fail("axes are required") }
        var y = x
        for axis in try context.axes(axes, rank: x.rank + axes.count).sorted() { y = y.unsqueezed(axis: axis) }
        return y
    }

    static func split(_ context: ONNXNodeContext, sizes given: [Int]?) throws -> [Tensor] {
        let x = try context.input(0)
        let axis = try context.axis(context.int("axis", 0), rank: x.rank)
        let length = x.shape[axis]
        var sizes: [Int]
        if let given {
            sizes = given
        } else {
            // Equal parts; opset 18's num_outputs lets the last one be smaller.
            let parts = context.int("num_outputs", context.outputCount)
            guard parts > 0 else { throw context.fail("cannot split into \(parts) parts") }
            let size = (length + parts - 1) / parts
            sizes = (0..<parts).map { min(size, max(length - $0 * size, 0)) }
        }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == length else {
            throw context.fail("split sizes \(sizes) do not add up to \(length), the length of axis \(axis) of \(x.shape)")
        }
        return x.split(sizes: sizes, axis: axis)
    }

    static func slice(_ x: Tensor, starts: [Int], ends: [Int], axes given: [Int]?, steps: [Int]?,
                      _ context: ONNXNodeContext) throws -> Tensor {
        let axes = try context.axes(given ?? Array(0..<starts.count), rank: x.rank)
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw context.fail("starts \(starts), ends \(ends), axes \(axes) and steps \(steps) must have one entry per sliced axis")
        }
        var indices = Array(repeating: TensorIndex.all, count: x.rank)
        for (i, axis) in axes.enumerated() {
            let n = x.shape[axis], step = steps[i]
            guard step != 0 else { throw context.fail("step 0 on axis \(axis)") }
            // NumPy's clamping: positive steps run in [0, n], negative ones in [-1, n - 1].
            var start = starts[i] < 0 ? starts[i] &+ n : starts[i]
            var end = ends[i] < 0 ? ends[i] &+ n : ends[i]
            if step > 0 {
                start = min(max(start, 0), n)
                end = min(max(end, 0), n)
                indices[axis] = .range(start: start, end: max(end, start), step: step)
            } else {
                start = min(max(start, -1), n - 1)
                end = min(max(end, -1), n - 1)
                if start <= end {
                    indices[axis] = .range(start: 0, end: 0, step: 1)
                } else {
                    indices[axis] = .range(start: start, end: end < 0 ? nil : end, step: step)
                }
            }
        }
        return x.subscripted(indices)
    }

    static func broadcastShape(_ a: [Int], _ b: [Int], _ context: ONNXNodeContext) throws -> [Int] {
        let rank = max(a.count, b.count)
        let left = Array(repeating: 1, count: rank - a.count) + a, right = Array(repeating: 1, count: rank - b.count) + b
        return try zip(left, right).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw context.fail("shapes \(a) and \(b) do not broadcast") }
            return x == 1 ? y : x
        }
    }

    static func pad(_ x: Tensor, pads: [Int], value: Double, axes given: [Int]?, _ context: ONNXNodeContext) throws -> Tensor {
        let axes = try context.axes(given ?? Array(0..<x.rank), rank: x.rank)
        guard pads.count == 2 * axes.count else { throw context.fail("pads \(pads) must hold a begin and an end for each of \(axes.count) axes") }
        var padding = Array(repeating: Padding(0, 0), count: x.rank)
        for (i, axis) in axes.enumerated() {
            padding[axis] = Padding(pads[i], pads[i + axes.count])
            guard x.shape[axis] + pads[i] + pads[i + axes.count] >= 0 else { throw context.fail("pads \(pads) remove more than axis \(axis) holds") }
        }
        let mode = context.string("mode", "constant")
        if mode == "constant" { return x.padded(padding, value: value) }
        guard ["reflect", "edge", "wrap"].contains(mode) else { throw context.fail("mode '\(mode)' is not constant, reflect, edge or wrap") }
        // The other modes read input elements: one index per output position and axis.
        var y = x
        for axis in 0..<x.rank where padding[axis] != Padding(0, 0) {
            let n = x.shape[axis], p = padding[axis]
            guard n > 0, mode != "reflect" || n > 1 || (p.before <= 0 && p.after <= 0) else {
                throw context.fail("cannot \(mode)-pad axis \(axis) of size \(n)")
            }
            let positions = (-p.before)..<(n + p.after)
            let index = positions.map { i -> Int64 in
                switch mode {
                case "edge": return Int64(min(max(i, 0), n - 1))
                case "wrap": return Int64(((i % n) + n) % n)
                default:
                    let period = 2 * (n - 1)
                    let r = ((i % period) + period) % period
                    return Int64(r < n ? r : period - r)
                }
            }
            y = y.indexSelect(axis: axis, index: Tensor(index, shape: [index.count]))
        }
        return y
    }

    /// Each batch entry's first sequence_lens[b] steps along time_axis reversed, the rest kept:
    /// a gather along the time axis by indices made from the (known) lengths.
    private static func reverseSequence(_ context: ONNXNodeContext) throws -> Tensor {
        let x = try context.input(0)
        guard x.rank >= 2 else { throw context.fail("input must have rank 2 or more, got shape \(x.shape)") }
        let batchAxis = try context.axis(context.int("batch_axis", 1), rank: x.rank)
        let timeAxis = try context.axis(context.int("time_axis", 0), rank: x.rank)
        guard batchAxis != timeAxis, batchAxis < 2, timeAxis < 2 else { throw context.fail("batch_axis and time_axis must be 0 and 1 in some order") }
        let (batch, time) = (x.shape[batchAxis], x.shape[timeAxis])
        guard let lengths = try context.ints(1), lengths.count == batch, lengths.allSatisfy({ (0...time).contains($0) }) else {
            throw context.fail("sequence_lens must hold \(batch) lengths in 0...\(time)")
        }
        // index[b][t] (laid out along the two axes) is the time step that lands at t.
        var index = [Int64](repeating: 0, count: batch * time)
        for b in 0..<batch {
            for t in 0..<time {
                let source = Int64(t < lengths[b] ? lengths[b] - 1 - t : t)
                index[batchAxis == 0 ? b * time + t : t * batch + b] = source
            }
        }
        var shape = Array(repeating: 1, count: x.rank)
        shape[batchAxis] = batch
        shape[timeAxis] = time
        return x.gather(axis: timeAxis, index: Tensor(index, shape: shape).expanded(to: x.shape))
    }
}
