import Ember

/// Resize (and the older Upsample): nearest, linear and cubic interpolation are separable,
/// so each resized axis becomes a few index selections along it, weighted and summed. The
/// source positions depend on shapes only, so they are computed ahead in Swift.
enum ONNXResize {
    static let all: [ONNXOperator] = [
        ONNXOperator("Upsample", since: 7) { context in
            guard let scales = context.floats("scales") else { throw context.fail("scales are required") }
            return [try resize(context, scales: scales, sizes: nil, defaultTransform: "asymmetric", defaultNearest: "floor")]
        },
        ONNXOperator("Upsample", since: 9) { context in
            [try resize(context, scales: context.doubles(1), sizes: nil, defaultTransform: "asymmetric", defaultNearest: "floor")]
        },
        ONNXOperator("Resize", since: 10) { context in
            [try resize(context, scales: context.doubles(1), sizes: nil, defaultTransform: "asymmetric")]
        },
        ONNXOperator("Resize", since: 11) { context in
            // roi only matters for tf_crop_and_resize, which is refused below.
            let scales = try context.doubles(2).flatMap { $0.isEmpty ? nil : $0 }
            return [try resize(context, scales: scales, sizes: context.ints(3), defaultTransform: "half_pixel")]
        },
    ]

    /// One resized axis: for each tap, a source index per output position and its weight.
    struct Taps {
        var indices: [[Int64]]
        var weights: [[Double]]?
    }

    static func resize(_ context: ONNXNodeContext, scales: [Double]?, sizes: [Int]?, defaultTransform: String,
                       defaultNearest: String = "round_prefer_floor") throws -> Tensor {
        let x = try context.input(0)
        guard context.int("antialias", 0) == 0 else { throw context.fail("antialias is not supported") }
        let axes = try context.axes(context.ints("axes") ?? Array(0..<x.rank), rank: x.rank)
        var outSizes = x.shape, axisScales = Array(repeating: 1.0, count: x.rank)
        if let sizes, !sizes.isEmpty {
            guard sizes.count == axes.count, sizes.allSatisfy({ $0 >= 0 }) else { throw context.fail("sizes \(sizes) must give one size per axis \(axes)") }
            let policy = context.string("keep_aspect_ratio_policy", "stretch")
            let ratios = zip(axes, sizes).map { Double($1) / Double(x.shape[$0]) }
            for (i, axis) in axes.enumerated() {
                switch policy {
                case "stretch": axisScales[axis] = ratios[i]
                case "not_larger": axisScales[axis] = ratios.min()!
                case "not_smaller": axisScales[axis] = ratios.max()!
                default: throw context.fail("keep_aspect_ratio_policy '\(policy)' is not stretch, not_larger or not_smaller")
                }
                outSizes[axis] = policy == "stretch" ? sizes[i] : Int((Double(x.shape[axis]) * axisScales[axis]).rounded())
            }
        } else if let scales {
            guard scales.count == axes.count, scales.allSatisfy({ $0 > 0 }) else { throw context.fail("scales \(scales) must give one positive scale per axis \(axes)") }
            for (i, axis) in axes.enumerated() {
                axisScales[axis] = scales[i]
                outSizes[axis] = Int((Double(x.shape[axis]) * scales[i]).rounded(.down))
            }
        } else {
            throw context.fail("needs scales or sizes")
        }
        try context.checkSize(outSizes)
        let mode = context.string("mode", "nearest")
        let transform = context.string("coordinate_transformation_mode", defaultTransform)
        guard ["nearest", "linear", "cubic"].contains(mode) else { throw context.fail("mode '\(mode)' is not nearest, linear or cubic") }
        guard ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"].contains(transform) else {
            throw context.fail("coordinate_transformation_mode '\(transform)' is not supported")
        }
        var y = x
        for axis in 0..<x.rank where outSizes[axis] != x.shape[axis] || axisScales[axis] != 1 {
            let taps = try self.taps(context, mode: mode, transform: transform, nearest: context.string("nearest_mode", defaultNearest),
                                     input: x.shape[axis], output: outSizes[axis], scale: axisScales[axis])
            var weightShape = Array(repeating: 1, count: x.rank)
            weightShape[axis] = outSizes[axis]
            var sum: Tensor?
            for (t, index) in taps.indices.enumerated() {
                var picked = y.indexSelect(axis: axis, index: Tensor(index, shape: [index.count]))
                if let weights = taps.weights {
                    picked = picked * Tensor(doubles: weights[t], shape: weightShape, dtype: x.dtype.isFloatingPoint ? x.dtype : .float32)
                }
                sum = sum.map { $0 + picked } ?? picked
            }
            y = sum!
        }
        return y.cast(to: x.dtype)
    }

    static func taps(_ context: ONNXNodeContext, mode: String, transform: String, nearest rounding: String,
                     input n: Int, output m: Int, scale: Double) throws -> Taps {
        func source(_ i: Int) -> Double {
            let x = Double(i)
            switch transform {
            case "half_pixel": return (x + 0.5) / scale - 0.5
            case "pytorch_half_pixel": return m > 1 ? (x + 0.5) / scale - 0.5 : 0
            case "align_corners": return m == 1 ? 0 : x * Double(n - 1) / Double(m - 1)
            case "half_pixel_symmetric":
                let adjustment = Double(m) / (scale * Double(n))
                return Double(n) / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
            default: return x / scale
            }
        }
        func clamp(_ i: Int) -> Int64 { Int64(min(max(i, 0), n - 1)) }
        let positions = (0..<m).map(source)
        switch mode {
        case "nearest":
            let index = try positions.map { p -> Int64 in
                switch rounding {
                case "round_prefer_floor": return clamp(p - p.rounded(.down) == 0.5 ? Int(p.rounded(.down)) : Int(p.rounded()))
                case "round_prefer_ceil": return clamp(p - p.rounded(.down) == 0.5 ? Int(p.rounded(.up)) : Int(p.rounded()))
                case "floor": return clamp(Int(p.rounded(.down)))
                case "ceil": return clamp(Int(p.rounded(.up)))
                default: throw context.fail("nearest_mode '\(rounding)' is not supported")
                }
            }
            return Taps(indices: [index], weights: nil)
        case "linear":
            let floors = positions.map { Int($0.rounded(.down)) }
            let fractions = zip(positions, floors).map { $0 - Double($1) }
            return Taps(indices: [floors.map(clamp), floors.map { clamp($0 + 1) }],
                        weights: [fractions.map { 1 - $0 }, fractions])
        default:
            // Keys' cubic convolution with coefficient A over the neighbours floor-1 ... floor+2.
            let a = context.float("cubic_coeff_a", -0.75)
            let excludeOutside = context.int("exclude_outside", 0) != 0
            var indices = Array(repeating: [Int64](), count: 4), weights = Array(repeating: [Double](), count: 4)
            for p in positions {
                let base = Int(p.rounded(.down)), t = p - Double(base)
                var w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                         ((a + 2) * t - (a + 3)) * t * t + 1,
                         ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                         ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
                if excludeOutside {
                    for j in 0..<4 where !(0..<n).contains(base - 1 + j) { w[j] = 0 }
                    let total = w.reduce(0, +)
                    if total != 0 { w = w.map { $0 / total } }
                }
                for j in 0..<4 {
                    indices[j].append(clamp(base - 1 + j))
                    weights[j].append(w[j])
                }
            }
            return Taps(indices: indices, weights: weights)
        }
    }
}
