/// 2-D max and average pooling in NCHW layout (PyTorch's semantics): the public API, shape
/// rules and derivative rules. The primitives pool in floor mode with dense windows; ceil
/// mode, dilation and adaptive pooling are composed on top of them.
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
        windows(t, kernel: c.kernel, stride: c.stride, dilation: [1, 1],
                padding: c.padding.map { Padding($0, $0) }, padValue: padValue)
    }

    /// The windows of a pooling with dilated kernels and per-side padding; the output size is
    /// the floor-mode one of the padded input.
    static func windows(_ t: Tensor, kernel: [Int], stride: [Int], dilation: [Int], padding: [Padding],
                        padValue: Double) -> Tensor {
        let padded = t.padded([Padding(0, 0), Padding(0, 0)] + padding, value: padValue)
        let outHeight = (padded.shape[2] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1
        let outWidth = (padded.shape[3] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1
        var slices = [Tensor]()
        for i in 0..<kernel[0] {
            for j in 0..<kernel[1] {
                let top = i * dilation[0], left = j * dilation[1]
                let ranges = [SliceRange(start: 0, end: t.shape[0]), SliceRange(start: 0, end: t.shape[1]),
                              SliceRange(start: top, end: top + (outHeight - 1) * stride[0] + 1, step: stride[0]),
                              SliceRange(start: left, end: left + (outWidth - 1) * stride[1] + 1, step: stride[1])]
                slices.append(Dispatch.run1(.slice(ranges), [padded]))
            }
        }
        return Tensor.stack(slices, axis: 2)
    }

    // MARK: Ceil mode and dilation

    /// The primitives pool dense windows in floor mode. Ceil mode's partial last windows and
    /// dilated windows are written on top of them: `Geometry` holds the output size PyTorch
    /// gives and the rows and columns past the bottom and right padding that the last windows reach.
    struct Geometry {
        let config: PoolConfig
        let output: [Int]
        let extra: [Int]

        init(_ op: String, _ c: PoolConfig, dilation: [Int], ceilMode: Bool, input x: [Int]) {
            precondition(x.count == 4, "\(op): expected an input of shape [N, C, H, W], got \(x)")
            precondition(dilation.allSatisfy { $0 >= 1 }, "\(op): dilation must be at least 1, got \(dilation)")
            precondition(c.kernel.allSatisfy { $0 >= 1 } && c.stride.allSatisfy { $0 >= 1 } && c.padding.allSatisfy { $0 >= 0 },
                         "\(op): kernel \(c.kernel) and stride \(c.stride) must be at least 1 and padding \(c.padding) non-negative")
            precondition(zip(c.padding, c.kernel).allSatisfy { $0 <= $1 / 2 },
                         "\(op): padding \(c.padding) must be at most half the kernel \(c.kernel)")
            var output = [Int](), extra = [Int]()
            for axis in 0..<2 {
                let extent = dilation[axis] * (c.kernel[axis] - 1) + 1
                let padded = x[2 + axis] + 2 * c.padding[axis]
                precondition(extent <= padded, "\(op): the kernel \(c.kernel) (dilation \(dilation)) is larger than the padded input \(Array(x[2...])) (padding \(c.padding))")
                let stride = c.stride[axis]
                var size = (padded - extent + (ceilMode ? stride - 1 : 0)) / stride + 1
                // As PyTorch: the last window must start inside the input or the left padding.
                if ceilMode && (size - 1) * stride >= x[2 + axis] + c.padding[axis] { size -= 1 }
                output.append(size)
                extra.append(max(0, (size - 1) * stride + extent - padded))
            }
            self.config = c
            self.output = output
            self.extra = extra
        }

        /// Padding of the bottom and right by `extra`, which the floor-mode primitives then see as input.
        func padExtra(_ x: Tensor, value: Double) -> Tensor {
            x.padded([Padding(0, 0), Padding(0, 0), Padding(0, extra[0]), Padding(0, extra[1])], value: value)
        }

        /// What the primitive's average (over the whole window) is multiplied by to divide by
        /// PyTorch's divisor instead: a ceil-mode window is clipped to the padded input, or to
        /// the input without `countIncludePad`. [H', W'].
        func averageCorrection(input x: [Int], dtype: DType) -> Tensor {
            func sizes(_ axis: Int) -> [Double] {
                (0..<output[axis]).map { o in
                    let start = o * config.stride[axis] - config.padding[axis]
                    let end = min(start + config.kernel[axis], x[2 + axis] + config.padding[axis])
                    let count = config.countIncludePad ? end - start : min(end, x[2 + axis]) - max(start, 0)
                    return Double(config.kernel[axis]) / Double(count)
                }
            }
            let rows = sizes(0), columns = sizes(1)
            return Tensor(doubles: rows.flatMap { r in columns.map { r * $0 } }, shape: output, dtype: dtype)
        }
    }
}

// MARK: Forward mode and batching

extension Pooling {
    /// Pooling windows never cross images: the examples' images are one larger batch.
    static func poolBatch(_ primitive: Primitive, _ x: BatchedOperands) -> Tensor {
        x.unfoldedFromFirstAxis(Dispatch.run1(primitive, [x.foldedIntoFirstAxis(0)]))
    }

    static func maxPoolBackwardBatch(_ primitive: Primitive, _ x: BatchedOperands) -> Tensor {
        x.unfoldedFromFirstAxis(Dispatch.run1(primitive, [x.foldedIntoFirstAxis(0), x.foldedIntoFirstAxis(1)]))
    }

    static func avgPoolBackwardBatch(_ c: PoolConfig, _ inputShape: [Int], _ x: BatchedOperands) -> Tensor {
        let folded = Dispatch.run1(.avgPool2dBackward(c, inputShape: [x.size * inputShape[0]] + inputShape.dropFirst()),
                                   [x.foldedIntoFirstAxis(0)])
        return x.unfoldedFromFirstAxis(folded)
    }
}


// MARK: - Public API

/// 2-D max pooling of an input [N, C, H, W] (torch.nn.functional.max_pool2d): padding
/// counts as -infinity; the stride defaults to the kernel size. `dilation` spaces the
/// window's elements; `ceilMode` keeps a partial last window (one that starts inside the
/// input or the left padding). Ties go to the first maximum in row-major window order.
public func maxPool2d(_ x: Tensor, kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0,
                      dilation: Size2D = 1, ceilMode: Bool = false) -> Tensor {
    let config = PoolConfig(kernel: kernelSize.array, stride: (stride ?? kernelSize).array, padding: padding.array)
    if dilation == 1 && !ceilMode { return Dispatch.run1(.maxPool2d(config), [x]) }
    let g = Pooling.Geometry("maxPool2d", config, dilation: dilation.array, ceilMode: ceilMode, input: x.shape)
    if dilation == 1 { return Dispatch.run1(.maxPool2d(config), [g.padExtra(x, value: -.infinity)]) }
    // Dilated windows as one strided slice per kernel offset; the first maximum is picked
    // (as PyTorch) rather than ties sharing the gradient as a max reduction's would.
    let padding = (0..<2).map { Padding(config.padding[$0], config.padding[$0] + g.extra[$0]) }
    let windows = Pooling.windows(x, kernel: config.kernel, stride: config.stride, dilation: dilation.array,
                                  padding: padding, padValue: -.infinity)
    let first = noGrad { windows.argmax(axis: 2, keepDims: true) }
    return windows.gather(axis: 2, index: first).squeezed(axis: 2)
}

/// 2-D average pooling of an input [N, C, H, W] (torch.nn.functional.avg_pool2d): each
/// window is divided by its full size when `countIncludePad`, else by the number of input
/// elements it covers; the stride defaults to the kernel size. `ceilMode` keeps a partial
/// last window, divided by its size clipped to the padded input (or by its input elements).
public func avgPool2d(_ x: Tensor, kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0,
                      ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
    let config = PoolConfig(kernel: kernelSize.array, stride: (stride ?? kernelSize).array, padding: padding.array,
                            countIncludePad: countIncludePad)
    if !ceilMode { return Dispatch.run1(.avgPool2d(config), [x]) }
    let g = Pooling.Geometry("avgPool2d", config, dilation: [1, 1], ceilMode: true, input: x.shape)
    if g.extra == [0, 0] { return Dispatch.run1(.avgPool2d(config), [x]) }
    // Zeros past the input add nothing to the sums; the divisor is then corrected per window.
    var whole = config
    whole.countIncludePad = true
    let mean = Dispatch.run1(.avgPool2d(whole), [g.padExtra(x, value: 0)])
    return mean * g.averageCorrection(input: x.shape, dtype: mean.dtype)
}

/// 2-D adaptive average pooling (torch.nn.functional.adaptive_avg_pool2d): output cell i
/// along an axis of size n averages elements floor(i·n/out) ..< ceil((i+1)·n/out).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Size2D) -> Tensor {
    precondition(x.rank == 4, "adaptiveAvgPool2d: expected an input of shape [N, C, H, W], got \(x.shape)")
    precondition(outputSize.height >= 1 && outputSize.width >= 1,
                 "adaptiveAvgPool2d: the output size must be at least 1, got \(outputSize.array)")
    let height = x.shape[2], width = x.shape[3]
    if outputSize == 1 { return x.mean(axes: [2, 3], keepDims: true) }
    if height % outputSize.height == 0 && width % outputSize.width == 0 {
        return avgPool2d(x, kernelSize: Size2D(height / outputSize.height, width / outputSize.width))
    }
    // Uneven windows: a box average is separable, so one averaging matrix per axis.
    func averaging(_ n: Int, _ out: Int) -> Tensor {
        var values = [Double](repeating: 0, count: out * n)
        for i in 0..<out {
            let start = i * n / out, end = ((i + 1) * n + out - 1) / out
            for j in start..<end { values[i * n + j] = 1 / Double(end - start) }
        }
        return Tensor(doubles: values, shape: [out, n], dtype: x.dtype, on: x.backend)
    }
    let columns = x.matmul(averaging(width, outputSize.width).transposed())
    return averaging(height, outputSize.height).matmul(columns)
}

// MARK: - ONNX mapping

extension Pooling {
    /// MaxPool or AveragePool in floor mode, as the primitives.
    static func poolONNX(_ op: String, _ c: PoolConfig, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        var attributes = [ONNXAttribute("kernel_shape", .ints(c.kernel)), ONNXAttribute("strides", .ints(c.stride)),
                          ONNXAttribute("pads", .ints(c.padding + c.padding))]
        if op == "AveragePool" { attributes.append(ONNXAttribute("count_include_pad", .int(c.countIncludePad ? 1 : 0))) }
        return b.node(op, x.names, attributes, outputs: 1)[0]
    }
}
