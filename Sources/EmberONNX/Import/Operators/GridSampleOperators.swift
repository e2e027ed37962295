import Ember

/// GridSample (opset 16; N-D since 20): samples x at the normalized coordinates of a grid
/// ([-1, 1] across each spatial axis, the last grid entry naming the last axis) by nearest,
/// linear or cubic (Keys, a = -0.75) interpolation, padding with zeros, the border or
/// reflections. Each interpolation tap is a gather from the flattened spatial axes, weighted,
/// so gradients reach x and the grid as in the reference's arithmetic.
enum ONNXGridSampleOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("GridSample", since: 16) { context in [try gridSample(context)] },
        ONNXOperator("AffineGrid", since: 20) { context in [try affineGrid(context)] },
    ]

    /// The grid GridSample reads for an affine transform theta ([N, 2, 3] or [N, 3, 4]): the
    /// normalized coordinates (x, y[, z], 1) of every output position, multiplied by theta.
    private static func affineGrid(_ context: ONNXNodeContext) throws -> Tensor {
        let theta = try context.input(0)
        guard let size = try context.ints(1), size.count == 4 || size.count == 5, size.allSatisfy({ $0 > 0 }) else {
            throw context.fail("size must be [N, C, H, W] or [N, C, D, H, W] of positive sizes")
        }
        let spatial = Array(size.dropFirst(2)), axes = spatial.count
        guard theta.shape == [size[0], axes, axes + 1] else { throw context.fail("theta must be [\(size[0]), \(axes), \(axes + 1)], got \(theta.shape)") }
        try context.checkSize(spatial + [axes + 1])
        let aligned = context.int("align_corners", 0) != 0
        func coordinate(_ i: Int, _ n: Int) -> Double {
            aligned ? (n == 1 ? -1 : -1 + 2 * Double(i) / Double(n - 1)) : -1 + (2 * Double(i) + 1) / Double(n)
        }
        // Rows (x, y[, z], 1) in row-major order of the spatial axes (the last axis is x).
        let count = spatial.reduce(1, *)
        var rows = [Double]()
        rows.reserveCapacity(count * (axes + 1))
        for flat in 0..<count {
            var rest = flat, position = [Int](repeating: 0, count: axes)
            for axis in (0..<axes).reversed() {
                position[axis] = rest % spatial[axis]
                rest /= spatial[axis]
            }
            rows += (0..<axes).reversed().map { coordinate(position[$0], spatial[$0]) } + [1]
        }
        let base = Tensor(doubles: rows, shape: [count, axes + 1], dtype: theta.dtype)
        return matmul(base, theta.transposed(1, 2)).reshaped(to: [size[0]] + spatial + [axes])
    }

    private static func gridSample(_ context: ONNXNodeContext) throws -> Tensor {
        let x = try context.input(0), grid = try context.input(1)
        let axes = x.rank - 2
        guard axes >= 1, grid.rank == x.rank, grid.shape[0] == x.shape[0], grid.shape.last == axes else {
            throw context.fail("x [N, C, spatial...] and grid [N, out..., \(max(axes, 0))] expected, got \(x.shape) and \(grid.shape)")
        }
        var mode = context.string("mode", context.opset >= 20 ? "linear" : "bilinear")
        mode = ["bilinear": "linear", "bicubic": "cubic"][mode] ?? mode
        guard ["linear", "nearest", "cubic"].contains(mode) else { throw context.fail("mode '\(mode)' is not linear, nearest or cubic") }
        let padding = context.string("padding_mode", "zeros")
        guard ["zeros", "border", "reflection"].contains(padding) else { throw context.fail("padding_mode '\(padding)' is not zeros, border or reflection") }
        let aligned = context.int("align_corners", 0) != 0
        let (batch, channels) = (x.shape[0], x.shape[1])
        let sizes = Array(x.shape.dropFirst(2)), outShape = Array(grid.shape.dropFirst().dropLast())
        let outCount = outShape.reduce(1, *)
        let g = grid.cast(to: .float64).reshaped(to: [batch, outCount, axes])

        // Per spatial axis: the taps (integer positions) and their weights, [N, out] each.
        var taps = [[(index: Tensor, weight: Tensor)]]()
        for axis in 0..<axes {
            let length = Double(sizes[axis])
            let normalized = g.narrow(axis: 2, start: axes - 1 - axis, count: 1).squeezed(axis: 2)
            var position = aligned ? (normalized + 1) / 2 * (length - 1) : ((normalized + 1) * length - 1) / 2
            if mode == "nearest" { position = position.rounded() }
            let low = aligned ? 0 : -0.5, high = aligned ? length - 1 : length - 0.5
            let outside = (position .< low).logicalOr(position .> high)
            switch padding {
            case "border": position = Tensor.where(outside, position.clamp(min: 0, max: length - 1), position)
            case "reflection": position = Tensor.where(outside, reflect(position, low, high), position)
            default: break
            }
            let base = position.floor(), fraction = position - base
            let offsets: [Int], weights: [Tensor]
            switch mode {
            case "nearest": (offsets, weights) = ([0], [Tensor.ones([], dtype: .float64)])
            case "linear": (offsets, weights) = ([0, 1], [1 - fraction, fraction])
            default:
                let a = -0.75
                func near(_ t: Tensor) -> Tensor { ((a + 2) * t - (a + 3)) * t * t + 1 }
                func far(_ t: Tensor) -> Tensor { ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
                (offsets, weights) = ([-1, 0, 1, 2], [far(fraction + 1), near(fraction), near(1 - fraction), far(2 - fraction)])
            }
            taps.append(zip(offsets, weights).map { offset, weight in
                var index = (mode == "nearest" ? position : base) + Double(offset)
                var valid = Tensor.ones([], dtype: .float64)
                switch padding {
                case "zeros":
                    valid = Tensor.where((index .>= 0).logicalAnd(index .<= length - 1), valid, Tensor.zeros([], dtype: .float64))
                    index = index.clamp(min: 0, max: length - 1)
                case "border": index = index.clamp(min: 0, max: length - 1)
                default:
                    let outsideTap = (index .< low).logicalOr(index .> high)
                    index = Tensor.where(outsideTap, reflect(index, low, high), index)
                    index = Tensor.where(index .< 0, index.ceil(), index.floor()).clamp(min: 0, max: length - 1)
                }
                return (index, weight * valid)
            })
        }

        // Every combination of one tap per axis: a gather at the flat index, weighted.
        let flat = x.reshaped(to: [batch, channels, sizes.reduce(1, *)])
        var y = Tensor.zeros([batch, channels, outCount], dtype: x.dtype)
        func accumulate(_ axis: Int, _ index: Tensor, _ weight: Tensor) {
            if axis == axes {
                let gathered = flat.gather(axis: 2, index: index.cast(to: .int64).unsqueezed(axis: 1).expanded(to: [batch, channels, outCount]))
                y = y + gathered * weight.unsqueezed(axis: 1).cast(to: x.dtype)
                return
            }
            for tap in taps[axis] {
                accumulate(axis + 1, index * Double(sizes[axis]) + tap.index, weight * tap.weight)
            }
        }
        accumulate(0, Tensor.zeros([], dtype: .float64), Tensor.ones([], dtype: .float64))
        return y.reshaped(to: [batch, channels] + outShape)
    }

    /// Reflects positions outside [low, high] back in, bouncing between the borders.
    private static func reflect(_ v: Tensor, _ low: Double, _ high: Double) -> Tensor {
        let range = high - low
        let below = v .< low
        let distance = Tensor.where(below, low - v, v - high)
        let bounces = (distance / range).floor()
        let rest = distance - bounces * range
        let even = (bounces - (bounces / 2).floor() * 2) .== 0
        let fromLow = low + rest, fromHigh = high - rest
        return Tensor.where(below, Tensor.where(even, fromLow, fromHigh), Tensor.where(even, fromHigh, fromLow))
    }
}
