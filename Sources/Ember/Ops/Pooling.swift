/// 2-D max and average pooling in NCHW layout (PyTorch's semantics, floor mode): the
/// public API, shape rules and derivative rules.
enum Pooling {
    // MARK: Shape rules

    /// The output shape of pooling an input of shape `x`.
    static func outputShape(_ op: String, _ c: PoolConfig, _ x: [Int]) throws(ShapeError) -> [Int] {
        if c.kernel.count != 2 || c.stride.count != 2 || c.padding.count != 2 {
            throw ShapeError(op, "kernel, stride and padding need one entry per spatial axis (2), got \(c.kernel), \(c.stride), \(c.padding)")
        }
        if c.kernel.contains(where: { $0 < 1 }) || c.stride.contains(where: { $0 < 1 }) || c.padding.contains(where: { $0 < 0 }) {
            throw ShapeError(op, "kernel \(c.kernel) and stride \(c.stride) must be at least 1 and padding \(c.padding) non-negative")
        }
        // As PyTorch: every window then holds at least one element of the input.
        if zip(c.padding, c.kernel).contains(where: { $0 > $1 / 2 }) {
            throw ShapeError(op, "padding \(c.padding) must be at most half the kernel \(c.kernel)")
        }
        if x.count != 4 { throw ShapeError(op, "expected an input of shape [N, C, H, W], got \(x)") }
        var shape = Array(x[..<2])
        for axis in 0..<2 {
            let padded = x[2 + axis] + 2 * c.padding[axis]
            if c.kernel[axis] > padded {
                throw ShapeError(op, "the kernel \(c.kernel) is larger than the padded input \(Array(x[2...])) (padding \(c.padding))")
            }
            shape.append((padded - c.kernel[axis]) / c.stride[axis] + 1)
        }
        return shape
    }

    static func poolSpec(_ name: String, _ c: PoolConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        if !x.dtype.isFloatingPoint { throw ShapeError(name, "expected a floating-point tensor, got \(x.dtype)") }
        return TensorSpec(try outputShape(name, c, x.shape), x.dtype)
    }

    /// Inputs (x, gradY).
    static func maxPoolBackwardSpec(_ c: PoolConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let op = "max_pool2d_backward"
        let x = inputs[0], g = inputs[1]
        try Elementwise.sameDType(op, x, g)
        let expected = try poolSpec(op, c, [x])
        if g.shape != expected.shape {
            throw ShapeError(op, "the output gradient must have the pooled shape \(expected.shape) of input \(x.shape), got \(g.shape)")
        }
        return x
    }

    /// Inputs (gradY): the gradient of an input of `inputShape`.
    static func avgPoolBackwardSpec(_ c: PoolConfig, _ inputShape: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let op = "avg_pool2d_backward"
        let g = inputs[0]
        let expected = try poolSpec(op, c, [TensorSpec(inputShape, g.dtype)])
        if g.shape != expected.shape {
            throw ShapeError(op, "the output gradient must have the pooled shape \(expected.shape) of input \(inputShape), got \(g.shape)")
        }
        return TensorSpec(inputShape, g.dtype)
    }

    // MARK: Derivative rules

    static func maxPoolVJP(_ c: PoolConfig, _ x: Tensor, _ g: Tensor) -> Tensor? {
        Dispatch.run1(.maxPool2dBackward(c), [x, g])
    }

    /// The backward pass is linear in gradY: it routes each output gradient to its window's
    /// maximum, so its adjoint reads the cotangent at those positions. It is constant in x
    /// (almost everywhere).
    static func maxPoolBackwardVJP(_ c: PoolConfig, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] {
        // The first maximum in row-major window order wins, as in the kernels and PyTorch.
        let argmax = noGrad { windows(inputs[0], c, padValue: -.infinity).argmax(axis: 2, keepDims: true) }
        return [nil, windows(g, c, padValue: 0).gather(axis: 2, index: argmax).squeezed(axis: 2)]
    }

    static func avgPoolVJP(_ c: PoolConfig, _ x: Tensor, _ g: Tensor) -> Tensor? {
        Dispatch.run1(.avgPool2dBackward(c, inputShape: x.shape), [g])
    }

    /// The backward pass is linear and the adjoint of pooling, so its adjoint is pooling.
    static func avgPoolBackwardVJP(_ c: PoolConfig, _ g: Tensor) -> Tensor? {
        Dispatch.run1(.avgPool2d(c), [g])
    }

    /// Every pooling window's elements, [N, C, kh * kw, H', W'], with the padding filled
    /// with `padValue`: one strided slice of the padded input per kernel offset.
    static func windows(_ t: Tensor, _ c: PoolConfig, padValue: Double) -> Tensor {
        let padded = t.padded([Padding(0, 0), Padding(0, 0), Padding(c.padding[0], c.padding[0]),
                               Padding(c.padding[1], c.padding[1])], value: padValue)
        let outHeight = (padded.shape[2] - c.kernel[0]) / c.stride[0] + 1
        let outWidth = (padded.shape[3] - c.kernel[1]) / c.stride[1] + 1
        var slices = [Tensor]()
        for i in 0..<c.kernel[0] {
            for j in 0..<c.kernel[1] {
                let ranges = [SliceRange(start: 0, end: t.shape[0]), SliceRange(start: 0, end: t.shape[1]),
                              SliceRange(start: i, end: i + (outHeight - 1) * c.stride[0] + 1, step: c.stride[0]),
                              SliceRange(start: j, end: j + (outWidth - 1) * c.stride[1] + 1, step: c.stride[1])]
                slices.append(Dispatch.run1(.slice(ranges), [padded]))
            }
        }
        return Tensor.stack(slices, axis: 2)
    }
}

// MARK: - Public API

/// 2-D max pooling of an input [N, C, H, W] (torch.nn.functional.max_pool2d): padding
/// counts as -infinity; the stride defaults to the kernel size.
public func maxPool2d(_ x: Tensor, kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0) -> Tensor {
    let config = PoolConfig(kernel: kernelSize.array, stride: (stride ?? kernelSize).array, padding: padding.array)
    return Dispatch.run1(.maxPool2d(config), [x])
}

/// 2-D average pooling of an input [N, C, H, W] (torch.nn.functional.avg_pool2d): each
/// window is divided by its full size when `countIncludePad`, else by the number of input
/// elements it covers; the stride defaults to the kernel size.
public func avgPool2d(_ x: Tensor, kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0,
                      countIncludePad: Bool = true) -> Tensor {
    let config = PoolConfig(kernel: kernelSize.array, stride: (stride ?? kernelSize).array, padding: padding.array,
                            countIncludePad: countIncludePad)
    return Dispatch.run1(.avgPool2d(config), [x])
}
