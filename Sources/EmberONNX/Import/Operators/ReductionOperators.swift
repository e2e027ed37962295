import Ember

/// Reductions, arg-reductions, the Softmax family, CumSum and TopK.
enum ONNXReductionOperators {
    static let all: [ONNXOperator] = reductions + [
        argReduction("ArgMax") { $0.argmax(axis: $1, keepDims: true) },
        argReduction("ArgMin") { $0.argmin(axis: $1, keepDims: true) },
        softmax("Softmax") { $0.softmax(axis: $1) },
        softmax("LogSoftmax") { $0.logSoftmax(axis: $1) },
        softmax("Hardmax") { x, axis in
            let first = x.argmax(axis: axis, keepDims: true)
            return first.squeezed(axis: axis).oneHot(classes: x.shape[axis], dtype: x.dtype).permuted(moving(x.rank - 1, to: axis, rank: x.rank))
        },
        ONNXOperator("CumSum", since: 11) { context in
            let x = try context.input(0)
            guard let given = try context.ints(1), given.count == 1 else { throw context.fail("axis must be one integer") }
            let axis = try context.axis(given[0], rank: x.rank)
            let reverse = context.int("reverse", 0) != 0, exclusive = context.int("exclusive", 0) != 0
            var y = reverse ? x.flipped(axes: [axis]) : x
            y = y.cumsum(axis: axis)
            if exclusive {
                // Shift by one: a zero first, the last running sum dropped.
                var padding = Array(repeating: Padding(0, 0), count: x.rank)
                padding[axis] = Padding(1, -1)
                y = y.padded(padding)
            }
            return [reverse ? y.flipped(axes: [axis]) : y]
        },
        ONNXOperator("CumProd", since: 26) { context in
            let x = try context.input(0)
            guard let given = try context.ints(1), given.count == 1 else { throw context.fail("axis must be one integer") }
            let axis = try context.axis(given[0], rank: x.rank)
            let reverse = context.int("reverse", 0) != 0, exclusive = context.int("exclusive", 0) != 0
            // A running product slice by slice (no log trick: zeros and signs must survive).
            let slices = (reverse ? x.flipped(axes: [axis]) : x).split(sizes: Array(repeating: 1, count: x.shape[axis]), axis: axis)
            var running = [Tensor](), product: Tensor?
            for slice in slices {
                if exclusive { running.append(product ?? Tensor.ones(like: slice)) }
                product = product.map { $0 * slice } ?? slice
                if !exclusive { running.append(product!) }
            }
            let y = running.isEmpty ? x : Tensor.concatenate(running, axis: axis)
            return [reverse ? y.flipped(axes: [axis]) : y]
        },
        ONNXOperator("TopK", since: 10) { context in
            let x = try context.input(0)
            guard let k = try context.ints(1)?.first else { throw context.fail("k is required") }
            let axis = try context.axis(context.int("axis", -1), rank: x.rank)
            guard (0...x.shape[axis]).contains(k) else { throw context.fail("k \(k) is out of range for axis \(axis) of \(x.shape)") }
            let largest = context.int("largest", 1) != 0
            let (values, indices) = x.topk(k, axis: axis, largest: largest)
            return [values, indices.cast(to: .int64)]
        },
    ]

    /// Where Flatten (and Softmax before opset 13) cut the axes in two: -rank...rank.
    static func splitAxis(_ axis: Int, rank: Int, _ context: ONNXNodeContext) throws -> Int {
        guard (-rank...rank).contains(axis) else { throw context.fail("axis \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    /// The permutation moving axis `from` to position `to`.
    static func moving(_ from: Int, to: Int, rank: Int) -> [Int] {
        var order = Array(0..<rank)
        order.remove(at: from)
        order.insert(from, at: to)
        return order
    }

    /// `empty`: the result over an empty set, for reductions without an identity element that
    /// Ember's own ops would compute (ONNX: ReduceMax gives the type's lowest value, and so on).
    private static func reduction(_ name: String, axesInputSince: Int, empty: ((DType, [Int]) -> Tensor)? = nil,
                                  _ f: @escaping (Tensor, [Int], Bool) -> Tensor) -> [ONNXOperator] {
        func reduce(_ x: Tensor, _ axes: [Int], _ keep: Bool) -> Tensor {
            guard let empty, axes.contains(where: { x.shape[$0] == 0 }) else { return f(x, axes, keep) }
            let shape = x.shape.indices.compactMap { axes.contains($0) ? (keep ? 1 : nil) : x.shape[$0] }
            return empty(x.dtype, shape)
        }
        func run(_ context: ONNXNodeContext, _ axes: [Int]?) throws -> [Tensor] {
            let x = try context.input(0)
            let keep = context.int("keepdims", 1) != 0
            guard let axes, !axes.isEmpty else {
                if context.int("noop_with_empty_axes", 0) != 0 { return [x] }
                return [reduce(x, Array(0..<x.rank), keep)]
            }
            return [reduce(x, try context.axes(axes, rank: x.rank), keep)]
        }
        return [ONNXOperator(name) { try run($0, $0.ints("axes")) },
                ONNXOperator(name, since: axesInputSince) { try run($0, $0.ints(1)) }]
    }

    /// A tensor of a dtype's highest or lowest value (true or false for bool).
    private static func extreme(_ dtype: DType, _ shape: [Int], highest: Bool) -> Tensor {
        let count = shape.reduce(1, *)
        switch dtype {
        case .bool: return Tensor.full(shape, highest ? 1 : 0, dtype: .bool)
        case .int32: return Tensor([Int32](repeating: highest ? .max : .min, count: count), shape: shape)
        case .int64: return Tensor([Int64](repeating: highest ? .max : .min, count: count), shape: shape)
        default: return Tensor.full(shape, highest ? .infinity : -.infinity, dtype: dtype)
        }
    }

    static let reductions: [ONNXOperator] = [
        reduction("ReduceSum", axesInputSince: 13) { $0.sum(axes: $1, keepDims: $2) },
        reduction("ReduceMean", axesInputSince: 18) { $0.mean(axes: $1, keepDims: $2) },
        reduction("ReduceMax", axesInputSince: 18, empty: { extreme($0, $1, highest: false) }) { $0.max(axes: $1, keepDims: $2) },
        reduction("ReduceMin", axesInputSince: 18, empty: { extreme($0, $1, highest: true) }) { $0.min(axes: $1, keepDims: $2) },
        reduction("ReduceProd", axesInputSince: 18) { $0.prod(axes: $1, keepDims: $2) },
        reduction("ReduceL1", axesInputSince: 18) { $0.abs().sum(axes: $1, keepDims: $2) },
        reduction("ReduceL2", axesInputSince: 18) { ($0 * $0).sum(axes: $1, keepDims: $2).sqrt() },
        reduction("ReduceSumSquare", axesInputSince: 18) { ($0 * $0).sum(axes: $1, keepDims: $2) },
        reduction("ReduceLogSum", axesInputSince: 18) { $0.sum(axes: $1, keepDims: $2).log() },
        reduction("ReduceLogSumExp", axesInputSince: 18, empty: { Tensor.full($1, -.infinity, dtype: $0) }) { $0.logSumExp(axes: $1, keepDims: $2) },
    ].flatMap { $0 }

    private static func argReduction(_ name: String, _ f: @escaping (Tensor, Int) -> Tensor) -> ONNXOperator {
        ONNXOperator(name) { context in
            let x = try context.input(0)
            let axis = try context.axis(context.int("axis", 0), rank: x.rank)
            // select_last_index: the first extreme of the reversed axis is the last one.
            let last = context.int("select_last_index", 0) != 0
            var index = f(last ? x.flipped(axes: [axis]) : x, axis).cast(to: .int64)
            if last { index = Tensor.scalar(Double(x.shape[axis] - 1), dtype: .int64) - index }
            return [context.int("keepdims", 1) != 0 ? index : index.squeezed(axis: axis)]
        }
    }

    /// Opsets before 13 flatten the input to 2-D at `axis` (default 1) and normalize rows;
    /// from 13 the operator works along one axis (default -1).
    private static func softmax(_ name: String, _ f: @escaping (Tensor, Int) -> Tensor) -> ONNXOperator {
        ONNXOperator(name) { context in
            let x = try context.input(0)
            if context.opset >= 13 { return [f(x, try context.axis(context.int("axis", -1), rank: x.rank))] }
            let axis = try splitAxis(context.int("axis", 1), rank: x.rank, context)
            let rows = x.shape[..<axis].reduce(1, *), columns = x.shape[axis...].reduce(1, *)
            return [f(x.reshaped(to: [rows, columns]), 1).reshaped(to: x.shape)]
        }
    }
}
