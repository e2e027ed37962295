import Ember

/// Convolutions, pooling, normalizations, Gemm/MatMul/Einsum and Dropout. Spatial
/// operators take 1-D inputs ([N, C, L]) as 2-D ones of height 1 and 2-D ones natively.
enum ONNXNeuralNetworkOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("Conv") { context in [try conv(context)] },
        ONNXOperator("ConvTranspose") { context in [try convTranspose(context)] },
        ONNXOperator("MaxPool") { context in
            guard context.outputCount < 2 || context.node.outputs[1] == nil else {
                throw context.fail("the Indices output is not supported")
            }
            return [try pool(context, max: true)]
        },
        ONNXOperator("AveragePool") { context in [try pool(context, max: false)] },
        ONNXOperator("LpPool", since: 2) { context in
            let p = Double(context.int("p", 2))
            guard p > 0 else { throw context.fail("p must be positive") }
            let (x, lifted) = try spatial2D(try context.input(0), context)
            let g = try geometry(context, x, kernel: context.ints("kernel_shape"), lifted: lifted)
            guard g.dilation == 1 else { throw context.fail("dilated Lp pooling is not supported") }
            // (Σ |x|^p)^(1/p): the window's mean of |x|^p times its size, padding counted as zeros.
            let powered = Ember.pow(x.abs(), p).padded(spatialPadding(g.padding))
            let sums = avgPool2d(powered, kernelSize: g.kernel, stride: g.stride, ceilMode: context.int("ceil_mode", 0) != 0,
                                 countIncludePad: true) * Double(g.kernel.height * g.kernel.width)
            let y = Ember.pow(sums, 1 / p)
            return [lifted ? y.squeezed(axis: 2) : y]
        },
        ONNXOperator("GlobalAveragePool") { context in
            let x = try context.input(0)
            return [x.mean(axes: Array(2..<x.rank), keepDims: true)]
        },
        ONNXOperator("GlobalMaxPool") { context in
            let x = try context.input(0)
            return [x.max(axes: Array(2..<x.rank), keepDims: true)]
        },
        ONNXOperator("BatchNormalization", since: 9) { context in try batchNormalization(context) },
        ONNXOperator("InstanceNormalization", since: 6) { context in
            let x = try context.input(0), scale = try context.input(1), bias = try context.input(2)
            let axes = Array(2..<x.rank)
            let normalized = normalize(x, axes: axes, epsilon: context.float("epsilon", 1e-5))
            let shape = [1, x.shape[1]] + Array(repeating: 1, count: x.rank - 2)
            return [normalized * scale.reshaped(to: shape) + bias.reshaped(to: shape)]
        },
        ONNXOperator("LayerNormalization", since: 17) { context in
            let x = try context.input(0)
            let axis = try context.axis(context.int("axis", -1), rank: x.rank)
            let shape = Array(x.shape[axis...])
            let scale = try context.input(1), bias = context.optionalInput(2)
            let epsilon = context.float("epsilon", 1e-5)
            if context.node.outputs.dropFirst().contains(where: { $0 != nil }) {
                // Mean and InvStdDev asked for (training graphs): computed step by step.
                let axes = Array(axis..<x.rank)
                let mean = x.mean(axes: axes, keepDims: true)
                let centered = x - mean
                let inverse = ((centered * centered).mean(axes: axes, keepDims: true) + epsilon).rsqrt()
                let y = centered * inverse * scale
                return [bias.map { y + $0 } ?? y, mean, inverse]
            }
            if scale.shape == shape && (bias?.shape ?? shape) == shape {
                return [layerNorm(x, normalizedShape: shape, weight: scale, bias: bias, epsilon: epsilon)]
            }
            // Scale and bias that only broadcast: normalize, then apply them as NumPy would.
            let y = normalize(x, axes: Array(axis..<x.rank), epsilon: epsilon) * scale
            return [bias.map { y + $0 } ?? y]
        },
        ONNXOperator("RMSNormalization", since: 23) { context in
            let x = try context.input(0), scale = try context.input(1)
            let axis = try context.axis(context.int("axis", -1), rank: x.rank)
            let squares = (x * x).mean(axes: Array(axis..<x.rank), keepDims: true)
            return [x * (squares + context.float("epsilon", 1e-5)).rsqrt() * scale]
        },
        ONNXOperator("MeanVarianceNormalization", since: 9) { context in
            let x = try context.input(0)
            let axes = try context.axes(context.ints("axes") ?? [0, 2, 3], rank: x.rank)
            return [normalize(x, axes: axes, epsilon: 1e-9)]
        },
        ONNXOperator("GroupNormalization", since: 18) { context in
            let x = try context.input(0), scale = try context.input(1), bias = try context.input(2)
            let groups = try context.int("num_groups")
            let channels = x.shape[1]
            guard groups > 0, channels % groups == 0 else { throw context.fail("\(channels) channels do not split into \(groups) groups") }
            let grouped = x.reshaped(to: [x.shape[0], groups, -1])
            let normalized = normalize(grouped, axes: [2], epsilon: context.float("epsilon", 1e-5)).reshaped(to: x.shape)
            // Opset 18 scales per group, opset 21 per channel.
            let perChannel: (Tensor) -> Tensor = { t in
                let values = t.count == groups && groups != channels ? t.reshaped(to: [groups, 1]).expanded(to: [groups, channels / groups]).reshaped(to: [channels]) : t
                return values.reshaped(to: [1, channels] + Array(repeating: 1, count: x.rank - 2))
            }
            return [normalized * perChannel(scale) + perChannel(bias)]
        },
        ONNXOperator("LpNormalization") { context in
            let x = try context.input(0)
            let axis = try context.axis(context.int("axis", -1), rank: x.rank)
            let p = context.int("p", 2)
            guard p == 1 || p == 2 else { throw context.fail("p must be 1 or 2, got \(p)") }
            let norm = p == 1 ? x.abs().sum(axis: axis, keepDims: true) : (x * x).sum(axis: axis, keepDims: true).sqrt()
            // A zero vector stays zero (the reference's choice) rather than becoming NaN.
            let zero = norm .== 0
            return [Tensor.where(zero, Tensor.zeros(like: x), x / Tensor.where(zero, Tensor.ones(like: norm), norm))]
        },
        ONNXOperator("Gemm", since: 7) { context in
            var a = try context.input(0), b = try context.input(1)
            guard a.rank == 2, b.rank == 2 else { throw context.fail("A and B must be matrices, got \(a.shape) and \(b.shape)") }
            if context.int("transA", 0) != 0 { a = a.transposed() }
            if context.int("transB", 0) != 0 { b = b.transposed() }
            guard a.shape[1] == b.shape[0] else { throw context.fail("cannot multiply \(a.shape) by \(b.shape)") }
            let alpha = context.float("alpha", 1), beta = context.float("beta", 1)
            var y = matmul(a, b)
            if alpha != 1 { y = y * alpha }
            if let c = context.optionalInput(2), beta != 0 { y = y + (beta == 1 ? c : c * beta) }
            return [y]
        },
        ONNXOperator("MatMul") { context in
            let a = try context.input(0), b = try context.input(1)
            let inner = a.rank == 1 ? a.shape[0] : a.shape[max(a.rank - 1, 0)]
            let other = b.rank == 1 ? b.shape[0] : b.shape[max(b.rank - 2, 0)]
            guard a.rank >= 1, b.rank >= 1, inner == other else { throw context.fail("cannot multiply \(a.shape) by \(b.shape)") }
            return [matmul(a, b)]
        },
        ONNXOperator("Einsum", since: 12) { context in
            [einsum(context.string("equation", "").filter { $0 != " " }, context.presentInputs)]
        },
        ONNXOperator("Dropout") { context in try dropout(context, trainingMode: false) },
        ONNXOperator("Dropout", since: 12) { context in
            try dropout(context, trainingMode: (try context.ints(2)?.first ?? 0) != 0)
        },
    ] + ONNXResize.all

    /// (x - mean) / sqrt(var + epsilon) over `axes`, with the biased variance.
    static func normalize(_ x: Tensor, axes: [Int], epsilon: Double) -> Tensor {
        let mean = x.mean(axes: axes, keepDims: true)
        let centered = x - mean
        return centered * ((centered * centered).mean(axes: axes, keepDims: true) + epsilon).rsqrt()
    }

    private static func dropout(_ context: ONNXNodeContext, trainingMode: Bool) throws -> [Tensor] {
        let x = try context.input(0)
        guard !trainingMode else { throw context.fail("training mode (random dropout) is not supported; import the model in inference mode") }
        return [x, Tensor.ones(x.shape, dtype: .bool)]
    }

    private static func batchNormalization(_ context: ONNXNodeContext) throws -> [Tensor] {
        let x = try context.input(0)
        let scale = try context.input(1), bias = try context.input(2), mean = try context.input(3), variance = try context.input(4)
        let channels = x.rank >= 2 ? x.shape[1] : 0
        guard x.rank >= 2, [scale, bias, mean, variance].allSatisfy({ $0.shape == [channels] }) else {
            throw context.fail("expects an input [N, C, ...] and statistics of shape [C]; got \(x.shape), \([scale, bias, mean, variance].map(\.shape))")
        }
        let epsilon = context.float("epsilon", 1e-5)
        guard context.opset >= 14 && context.int("training_mode", 0) != 0 else {
            return [batchNorm(x, runningMean: mean, runningVariance: variance, weight: scale, bias: bias, training: false,
                              epsilon: epsilon).output]
        }
        // Training mode: batch statistics normalize; the running ones blend in the biased
        // batch variance (ONNX's rule, unlike PyTorch's unbiased one).
        let axes = [0] + Array(2..<x.rank), shape = [1, channels] + Array(repeating: 1, count: x.rank - 2)
        let batchMean = x.mean(axes: axes, keepDims: true)
        let centered = x - batchMean
        let batchVariance = (centered * centered).mean(axes: axes, keepDims: true)
        let y = centered * (batchVariance + epsilon).rsqrt() * scale.reshaped(to: shape) + bias.reshaped(to: shape)
        let momentum = context.float("momentum", 0.9)
        return [y, mean * momentum + batchMean.reshaped(to: [channels]) * (1 - momentum),
                variance * momentum + batchVariance.reshaped(to: [channels]) * (1 - momentum)]
    }

    // MARK: Convolution and pooling geometry

    /// Per-axis begin and end padding from pads or auto_pad (SAME_UPPER puts the odd one at the end).
    static func padding(_ context: ONNXNodeContext, input: [Int], kernel: [Int], stride: [Int], dilation: [Int]) throws -> [Padding] {
        let n = kernel.count
        switch context.string("auto_pad", "NOTSET") {
        case "NOTSET":
            let pads = context.ints("pads") ?? Array(repeating: 0, count: 2 * n)
            guard pads.count == 2 * n, pads.allSatisfy({ $0 >= 0 }) else { throw context.fail("pads \(pads) must hold \(2 * n) non-negative values") }
            return (0..<n).map { Padding(pads[$0], pads[$0 + n]) }
        case "VALID":
            return Array(repeating: Padding(0, 0), count: n)
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            return (0..<n).map { i in
                let out = (input[i] + stride[i] - 1) / stride[i]
                let total = max((out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - input[i], 0)
                let small = total / 2
                return mode == "SAME_UPPER" ? Padding(small, total - small) : Padding(total - small, small)
            }
        case let mode:
            throw context.fail("auto_pad '\(mode)' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
        }
    }

    /// A 1-D input as a 2-D one: [N, C, L] -> [N, C, 1, L], with matching geometry.
    static func spatial2D(_ x: Tensor, _ context: ONNXNodeContext) throws -> (Tensor, Bool) {
        switch x.rank {
        case 3: return (x.unsqueezed(axis: 2), true)
        case 4: return (x, false)
        default: throw context.fail("supports 1-D and 2-D inputs ([N, C, L] or [N, C, H, W]), got \(x.shape)")
        }
    }

    static func geometry(_ context: ONNXNodeContext, _ x: Tensor, kernel given: [Int]?, lifted: Bool)
        throws -> (kernel: Size2D, stride: Size2D, dilation: Size2D, padding: [Padding]) {
        let n = x.rank - 2 - (lifted ? 1 : 0)
        guard let kernel = given, kernel.count == n, kernel.allSatisfy({ $0 > 0 }) else {
            throw context.fail("kernel_shape \(given ?? []) must give \(n) positive sizes")
        }
        let stride = context.ints("strides") ?? Array(repeating: 1, count: n)
        let dilation = context.ints("dilations") ?? Array(repeating: 1, count: n)
        guard stride.count == n, dilation.count == n, (stride + dilation).allSatisfy({ $0 > 0 }) else {
            throw context.fail("strides \(stride) and dilations \(dilation) must give \(n) positive values")
        }
        let spatial = Array(x.shape.suffix(n))
        var pads = try padding(context, input: spatial, kernel: kernel, stride: stride, dilation: dilation)
        func size(_ v: [Int], _ fill: Int) -> Size2D { lifted ? Size2D(fill, v[0]) : Size2D(v[0], v[1]) }
        if lifted { pads.insert(Padding(0, 0), at: 0) }
        return (size(kernel, 1), size(stride, 1), size(dilation, 1), pads)
    }

    private static func symmetric(_ pads: [Padding]) -> Size2D? {
        pads.allSatisfy { $0.before == $0.after } ? Size2D(pads[0].before, pads[1].before) : nil
    }

    private static func spatialPadding(_ pads: [Padding]) -> [Padding] { [Padding(0, 0), Padding(0, 0)] + pads }

    static func conv(_ context: ONNXNodeContext) throws -> Tensor {
        let (x, lifted) = try spatial2D(try context.input(0), context)
        var weight = try context.input(1)
        guard weight.rank == x.rank - (lifted ? 1 : 0) else { throw context.fail("weight \(weight.shape) does not match input \(x.shape)") }
        if lifted { weight = weight.unsqueezed(axis: 2) }
        let groups = context.int("group", 1)
        guard groups > 0, x.shape[1] == weight.shape[1] * groups, weight.shape[0] % groups == 0 else {
            throw context.fail("input \(x.shape) and weight \(weight.shape) do not match with \(groups) groups")
        }
        let g = try geometry(context, x, kernel: context.ints("kernel_shape") ?? Array(weight.shape.suffix(lifted ? 1 : 2)), lifted: lifted)
        let bias = context.optionalInput(2)
        let y: Tensor
        if let padding = symmetric(g.padding) {
            y = conv2d(x, weight: weight, bias: bias, stride: g.stride, padding: padding, dilation: g.dilation, groups: groups)
        } else {
            y = conv2d(x.padded(spatialPadding(g.padding)), weight: weight, bias: bias, stride: g.stride, dilation: g.dilation, groups: groups)
        }
        return lifted ? y.squeezed(axis: 2) : y
    }

    static func convTranspose(_ context: ONNXNodeContext) throws -> Tensor {
        let (x, lifted) = try spatial2D(try context.input(0), context)
        var weight = try context.input(1)
        if lifted { weight = weight.unsqueezed(axis: 2) }
        let groups = context.int("group", 1)
        guard weight.rank == 4, groups > 0, x.shape[1] == weight.shape[0] else {
            throw context.fail("input \(x.shape) and weight \(weight.shape) do not match with \(groups) groups")
        }
        let n = lifted ? 1 : 2
        guard context.ints("output_shape") == nil, context.string("auto_pad", "NOTSET") == "NOTSET" else {
            throw context.fail("output_shape and auto_pad are not supported; give pads")
        }
        let g = try geometry(context, x, kernel: context.ints("kernel_shape") ?? Array(weight.shape.suffix(n)), lifted: lifted)
        let extra = context.ints("output_padding") ?? Array(repeating: 0, count: n)
        let outputPadding = lifted ? Size2D(0, extra[0]) : Size2D(extra[0], extra[1])
        // Unequal padding: transpose with the smaller one, then crop the rest.
        let common = Size2D(min(g.padding[0].before, g.padding[0].after), min(g.padding[1].before, g.padding[1].after))
        var y = convTranspose2d(x, weight: weight, bias: context.optionalInput(2), stride: g.stride, padding: common,
                                outputPadding: outputPadding, dilation: g.dilation, groups: groups)
        if symmetric(g.padding) == nil {
            y = y.padded(spatialPadding([Padding(common.height - g.padding[0].before, common.height - g.padding[0].after),
                                         Padding(common.width - g.padding[1].before, common.width - g.padding[1].after)]))
        }
        return lifted ? y.squeezed(axis: 2) : y
    }

    static func pool(_ context: ONNXNodeContext, max: Bool) throws -> Tensor {
        let input = try context.input(0)
        // Integer maximums are exact in float64 (oneDNN pools floating point only).
        if max && !input.dtype.isFloatingPoint && input.dtype != .bool {
            return try pool(context, max: true, input.cast(to: .float64)).cast(to: input.dtype)
        }
        return try pool(context, max: max, input)
    }

    private static func pool(_ context: ONNXNodeContext, max: Bool, _ input: Tensor) throws -> Tensor {
        let (x, lifted) = try spatial2D(input, context)
        let g = try geometry(context, x, kernel: context.ints("kernel_shape"), lifted: lifted)
        let ceil = context.int("ceil_mode", 0) != 0
        // oneDNN pads at most half a window on each side; more is padded explicitly.
        let native = symmetric(g.padding).flatMap { $0.height <= g.kernel.height / 2 && $0.width <= g.kernel.width / 2 ? $0 : nil }
        let y: Tensor
        if max {
            if let padding = native {
                y = maxPool2d(x, kernelSize: g.kernel, stride: g.stride, padding: padding, dilation: g.dilation, ceilMode: ceil)
            } else {
                y = maxPool2d(x.padded(spatialPadding(g.padding), value: -.infinity), kernelSize: g.kernel, stride: g.stride,
                              dilation: g.dilation, ceilMode: ceil)
            }
        } else {
            guard g.dilation == 1 else { throw context.fail("dilated average pooling is not supported") }
            let countPadding = context.int("count_include_pad", 0) != 0
            if let padding = native {
                y = avgPool2d(x, kernelSize: g.kernel, stride: g.stride, padding: padding, ceilMode: ceil, countIncludePad: countPadding)
            } else {
                // Unequal padding: zeros in, then divide by how many input elements each window covers.
                let padded = spatialPadding(g.padding)
                let sums = avgPool2d(x.padded(padded), kernelSize: g.kernel, stride: g.stride, ceilMode: ceil, countIncludePad: true)
                let covered = avgPool2d(Tensor.ones(like: x).padded(padded, value: countPadding ? 1 : 0), kernelSize: g.kernel,
                                        stride: g.stride, ceilMode: ceil, countIncludePad: true)
                y = sums / covered
            }
        }
        return lifted ? y.squeezed(axis: 2) : y
    }
}
