/// 2-D convolution in NCHW layout with OIHW weights (1-D through a unit height): the
/// public API, shape rules and derivative rules. The three primitives are closed under
/// differentiation: each one's VJP is written with the other two, so gradients of
/// gradients work to any order.
enum Convolution {
    // MARK: Shape rules

    static func checkConfig(_ op: String, _ c: ConvConfig) throws(ShapeError) {
        if c.stride.count != 2 || c.padding.count != 2 || c.dilation.count != 2 {
            throw ShapeError(op, "stride, padding and dilation need one entry per spatial axis (2), got \(c.stride), \(c.padding), \(c.dilation)")
        }
        if c.stride.contains(where: { $0 < 1 }) || c.dilation.contains(where: { $0 < 1 }) || c.padding.contains(where: { $0 < 0 }) {
            throw ShapeError(op, "stride \(c.stride) and dilation \(c.dilation) must be at least 1 and padding \(c.padding) non-negative")
        }
        if c.groups < 1 { throw ShapeError(op, "groups must be at least 1, got \(c.groups)") }
    }

    /// The output's spatial size along one axis.
    static func outputSize(_ input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }

    /// The output shape of convolving an input of shape `x` with a weight of shape `w`.
    static func outputShape(_ op: String, _ c: ConvConfig, x: [Int], w: [Int]) throws(ShapeError) -> [Int] {
        try checkConfig(op, c)
        if x.count != 4 { throw ShapeError(op, "expected an input of shape [N, C, H, W], got \(x)") }
        if w.count != 4 { throw ShapeError(op, "expected a weight of shape [O, C/groups, kh, kw], got \(w)") }
        if x[1] % c.groups != 0 || w[0] % c.groups != 0 {
            throw ShapeError(op, "input channels (\(x[1])) and output channels (\(w[0])) must both divide by groups (\(c.groups))")
        }
        if w[1] != x[1] / c.groups {
            throw ShapeError(op, "the input \(x) has \(x[1]) channels, so with groups \(c.groups) the weight needs \(x[1] / c.groups) input channels (axis 1), got weight \(w)")
        }
        var shape = [x[0], w[0]]
        for axis in 0..<2 {
            let extent = c.dilation[axis] * (w[2 + axis] - 1) + 1
            if w[2 + axis] < 1 {
                throw ShapeError(op, "the weight \(w) has an empty kernel")
            }
            if extent > x[2 + axis] + 2 * c.padding[axis] {
                throw ShapeError(op, "the kernel \(Array(w[2...])) (dilation \(c.dilation)) is larger than the padded input \(Array(x[2...])) (padding \(c.padding))")
            }
            shape.append(outputSize(x[2 + axis], kernel: w[2 + axis], stride: c.stride[axis], padding: c.padding[axis], dilation: c.dilation[axis]))
        }
        return shape
    }

    static func checkFloat(_ op: String, _ a: TensorSpec, _ b: TensorSpec) throws(ShapeError) {
        try Elementwise.sameDType(op, a, b)
        if !a.dtype.isFloatingPoint { throw ShapeError(op, "expected floating-point tensors, got \(a.dtype)") }
    }

    static func conv2dSpec(_ c: ConvConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0], w = inputs[1]
        try checkFloat("conv2d", x, w)
        let shape = try outputShape("conv2d", c, x: x.shape, w: w.shape)
        if inputs.count == 3 {
            let bias = inputs[2]
            try Elementwise.sameDType("conv2d", x, bias)
            if bias.shape != [w.shape[0]] {
                throw ShapeError("conv2d", "the bias must have shape [\(w.shape[0])] (one per output channel of weight \(w.shape)), got \(bias.shape)")
            }
        }
        return TensorSpec(shape, x.dtype)
    }

    /// Inputs (gradY, w): the gradient of an input of `inputShape`.
    static func backwardInputSpec(_ c: ConvConfig, _ inputShape: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let op = "conv2d_backward_input"
        let g = inputs[0], w = inputs[1]
        try checkFloat(op, g, w)
        let expected = try outputShape(op, c, x: inputShape, w: w.shape)
        if g.shape != expected {
            throw ShapeError(op, "the output gradient must have the convolution's output shape \(expected) for input \(inputShape) and weight \(w.shape), got \(g.shape)")
        }
        return TensorSpec(inputShape, g.dtype)
    }

    /// Inputs (x, gradY): the gradient of a weight of `weightShape`.
    static func backwardWeightSpec(_ c: ConvConfig, _ weightShape: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let op = "conv2d_backward_weight"
        let x = inputs[0], g = inputs[1]
        try checkFloat(op, x, g)
        let expected = try outputShape(op, c, x: x.shape, w: weightShape)
        if g.shape != expected {
            throw ShapeError(op, "the output gradient must have the convolution's output shape \(expected) for input \(x.shape) and weight \(weightShape), got \(g.shape)")
        }
        return TensorSpec(weightShape, x.dtype)
    }

    // MARK: Derivative rules

    static func backwardInput(_ c: ConvConfig, _ g: Tensor, _ w: Tensor, inputShape: [Int]) -> Tensor {
        Dispatch.run1(.conv2dBackwardInput(c, inputShape: inputShape), [g, w])
    }

    static func backwardWeight(_ c: ConvConfig, _ x: Tensor, _ g: Tensor, weightShape: [Int]) -> Tensor {
        Dispatch.run1(.conv2dBackwardWeight(c, weightShape: weightShape), [x, g])
    }

    /// Inputs (x, w, bias?).
    static func conv2dVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] {
        let x = inputs[0], w = inputs[1]
        // Both gradients read g: the backend may convert it to its kernels' layout once.
        var result: [Tensor?] = g.storage.backend.sharingInputWork {
            [needed[0] ? backwardInput(c, g, w, inputShape: x.shape) : nil,
             needed[1] ? backwardWeight(c, x, g, weightShape: w.shape) : nil]
        }
        if inputs.count == 3 { result.append(needed[2] ? g.sum(axes: [0, 2, 3]) : nil) }
        return result
    }

    /// backwardInput(gy, w) is bilinear: <G, backwardInput(gy, w)> = <conv2d(G, w), gy>.
    static func backwardInputVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] {
        let gy = inputs[0], w = inputs[1]
        return [needed[0] ? Dispatch.run1(.conv2d(c), [g, w]) : nil,
                needed[1] ? backwardWeight(c, g, gy, weightShape: w.shape) : nil]
    }

    /// backwardWeight(x, gy) is bilinear: <G, backwardWeight(x, gy)> = <conv2d(x, G), gy>.
    static func backwardWeightVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] {
        let x = inputs[0], gy = inputs[1]
        return [needed[0] ? backwardInput(c, gy, g, inputShape: x.shape) : nil,
                needed[1] ? Dispatch.run1(.conv2d(c), [x, g]) : nil]
    }
}

// MARK: Forward mode and batching

extension Convolution {
    /// Inputs (x, w, bias?).
    static func conv2dJVP(_ c: ConvConfig, _ x: [Tensor], _ y: Tensor, _ t: [Tensor?]) -> Tensor? {
        let bias = x.count == 3 ? t[2].map { $0.reshaped(to: [1, $0.count, 1, 1]) } : nil
        return Tangents.sum([t[0].map { Dispatch.run1(.conv2d(c), [$0, x[1]]) },
                    t[1].map { Dispatch.run1(.conv2d(c), [x[0], $0]) }, bias], y.shape)
    }


    /// Inputs (x, w, bias?).
    static func conv2dBatch(_ c: ConvConfig, _ x: BatchedOperands) -> Tensor {
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
    static func backwardInputBatch(_ c: ConvConfig, _ inputShape: [Int], _ x: BatchedOperands) -> Tensor {
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


    /// Per-example weight gradients: the examples become groups of one convolution.
    static func backwardWeightBatch(_ c: ConvConfig, _ weightShape: [Int], _ x: BatchedOperands) -> Tensor {
        var grouped = c
        grouped.groups *= x.size
        let folded = Dispatch.run1(.conv2dBackwardWeight(grouped, weightShape: [x.size * weightShape[0]] + weightShape.dropFirst()),
                                   [x.foldedIntoChannels(0), x.foldedIntoChannels(1)])
        return folded.reshaped(to: [x.size] + weightShape)
    }
}


/// A size per spatial axis (height, width), written `3` for both or `[3, 1]` for each, as
/// PyTorch's int-or-tuple arguments. Shared by convolution and pooling.
public struct Size2D: Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) { self.init(value, value) }

    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "Size2D: expected [height, width], got \(elements)")
        self.init(elements[0], elements[1])
    }

    /// [height, width].
    public var array: [Int] { [height, width] }
}

// MARK: - Public API

/// 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) of an input
/// [N, C, H, W] with a weight [O, C/groups, kh, kw] and an optional bias [O]; gives
/// [N, O, H', W']. Padding is symmetric (zeros); operands are promoted to one dtype (under
/// `autocast`, float32 becomes the region's type).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1, padding: Size2D = 0,
                   dilation: Size2D = 1, groups: Int = 1) -> Tensor {
    let config = ConvConfig(stride: stride.array, padding: padding.array, dilation: dilation.array, groups: groups)
    let operands = [x, weight] + (bias.map { [$0] } ?? [])
    let t = Autocast.computeType(operands.dropFirst().reduce(x.dtype) { DType.promoted($0, $1.dtype) })
    return Dispatch.run1(.conv2d(config), operands.map { Autocast.cast($0, to: t) })
}

/// 1-D convolution of an input [N, C, L] with a weight [O, C/groups, k] and an optional
/// bias [O]; gives [N, O, L'] (a 2-D convolution over a unit height).
public func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    precondition(x.rank == 3 && weight.rank == 3,
                 "conv1d: expected an input [N, C, L] and a weight [O, C/groups, k], got \(x.shape) and \(weight.shape)")
    let y = conv2d(x.unsqueezed(axis: 2), weight: weight.unsqueezed(axis: 2), bias: bias, stride: Size2D(1, stride),
                   padding: Size2D(0, padding), dilation: Size2D(1, dilation), groups: groups)
    return y.squeezed(axis: 2)
}

/// 2-D transposed convolution (torch.nn.functional.conv_transpose2d) of an input
/// [N, C, H, W] with a weight [C, O/groups, kh, kw] and an optional bias [O]: the gradient
/// of a convolution with respect to its input, so it runs on that backward primitive. Gives
/// [N, O, H', W'] with H' = (H - 1)·stride - 2·padding + dilation·(kh - 1) + outputPadding + 1;
/// the output padding must be below the stride or the dilation.
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1, padding: Size2D = 0,
                            outputPadding: Size2D = 0, dilation: Size2D = 1, groups: Int = 1) -> Tensor {
    precondition(x.rank == 4 && weight.rank == 4,
                 "convTranspose2d: expected an input [N, C, H, W] and a weight [C, O/groups, kh, kw], got \(x.shape) and \(weight.shape)")
    precondition(x.shape[1] == weight.shape[0],
                 "convTranspose2d: the input \(x.shape) has \(x.shape[1]) channels but the weight \(weight.shape) takes \(weight.shape[0]) (axis 0)")
    let strides = stride.array, paddings = padding.array, dilations = dilation.array, extra = outputPadding.array
    precondition((0..<2).allSatisfy { extra[$0] >= 0 && (extra[$0] < strides[$0] || extra[$0] < dilations[$0]) },
                 "convTranspose2d: output padding \(extra) must be non-negative and smaller than the stride \(strides) or the dilation \(dilations)")
    let outChannels = weight.shape[1] * groups
    precondition(bias.map { $0.shape == [outChannels] } ?? true,
                 "convTranspose2d: the bias must have shape [\(outChannels)] (weight \(weight.shape), groups \(groups)), got \(bias!.shape)")
    let t = Autocast.computeType(([weight] + (bias.map { [$0] } ?? [])).reduce(x.dtype) { DType.promoted($0, $1.dtype) })
    let input = Autocast.cast(x, to: t), w = Autocast.cast(weight, to: t)
    // The output size without padding: every row some input row reaches.
    func fullSize(_ axis: Int) -> Int {
        let span: Int = dilations[axis] * (weight.shape[2 + axis] - 1)
        return (x.shape[2 + axis] - 1) * strides[axis] + span + 1
    }
    let full = [fullSize(0), fullSize(1)]
    var y: Tensor
    if (0..<2).allSatisfy({ extra[$0] < strides[$0] }) {
        // Output padding below the stride only adds rows the convolution's floor division drops.
        let config = ConvConfig(stride: strides, padding: paddings, dilation: dilations, groups: groups)
        let sizes: [Int] = (0..<2).map { full[$0] - 2 * paddings[$0] + extra[$0] }
        let shape = [x.shape[0], outChannels] + sizes
        y = Convolution.backwardInput(config, input, w, inputShape: shape)
    } else {
        // Past the stride those rows would not map back to the input: transpose without
        // padding, then crop (or pad with zeros) to the requested window.
        let config = ConvConfig(stride: strides, padding: [0, 0], dilation: dilations, groups: groups)
        let unpadded = Convolution.backwardInput(config, input, w, inputShape: [x.shape[0], outChannels] + full)
        y = unpadded.padded([Padding(0, 0), Padding(0, 0)] + (0..<2).map { Padding(-paddings[$0], extra[$0] - paddings[$0]) })
    }
    if let bias { y = y + Autocast.cast(bias, to: t).reshaped(to: [1, -1, 1, 1]) }
    return y
}

// MARK: - ONNX mapping

extension Convolution {
    /// Conv with symmetric pads; the optional bias is its third input in both.
    static func conv2dONNX(_ c: ConvConfig, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        b.node("Conv", x.names, [ONNXAttribute("strides", .ints(c.stride)), ONNXAttribute("pads", .ints(c.padding + c.padding)),
                                 ONNXAttribute("dilations", .ints(c.dilation)), ONNXAttribute("group", .int(c.groups)),
                                 ONNXAttribute("kernel_shape", .ints(Array(x.inputs[1].shape[2...])))], outputs: 1)[0]
    }
}
