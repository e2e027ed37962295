import Ember

/// A convolution's zero padding: amounts per spatial axis (`padding: 1`, `padding: [1, 2]`),
/// or PyTorch's `"valid"` (none) and `"same"` (the output keeps the input's size; stride 1).
public enum ConvPadding: Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    case explicit(Size2D)
    case valid
    case same

    public init(integerLiteral value: Int) { self = .explicit(Size2D(value, value)) }

    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "ConvPadding: expected [height, width], got \(elements)")
        self = .explicit(Size2D(elements[0], elements[1]))
    }

    /// The symmetric padding the convolution primitive takes, and the extra row and column
    /// "same" needs at the bottom and right when a kernel's extent is even (PyTorch puts the
    /// odd one there).
    func resolved(kernel: Size2D, dilation: Size2D) -> (symmetric: Size2D, extra: Size2D) {
        switch self {
        case .explicit(let amounts): return (amounts, 0)
        case .valid: return (0, 0)
        case .same:
            let height = dilation.height * (kernel.height - 1), width = dilation.width * (kernel.width - 1)
            return (Size2D(height / 2, width / 2), Size2D(height % 2, width % 2))
        }
    }
}

/// Runs `body` on `x` with a batch axis added when `x` has none, as PyTorch's convolution and
/// pooling layers accept a single unbatched sample.
func withBatchAxis(_ x: Tensor, spatialAxes: Int, _ body: (Tensor) -> Tensor) -> Tensor {
    x.rank == spatialAxes + 1 ? body(x.unsqueezed(axis: 0)).squeezed(axis: 0) : body(x)
}

/// Checks the settings shared by the convolution layers and draws PyTorch's default weight
/// and bias (uniform in ±1/√fanIn, fanIn from the weight's axis 1 and kernel).
private func convolutionParameters(_ layer: String, inChannels: Int, outChannels: Int, groups: Int, weightShape: [Int],
                                   bias: Bool, dtype: DType) -> (weight: Tensor, bias: Tensor?) {
    precondition(inChannels > 0 && outChannels > 0 && groups > 0,
                 "\(layer): channels and groups must be positive, got \(inChannels) → \(outChannels), groups \(groups)")
    precondition(inChannels % groups == 0 && outChannels % groups == 0,
                 "\(layer): inChannels (\(inChannels)) and outChannels (\(outChannels)) must both be divisible by groups (\(groups))")
    precondition(weightShape.dropFirst(2).allSatisfy { $0 > 0 }, "\(layer): the kernel size must be positive, got \(Array(weightShape.dropFirst(2)))")
    let bound = 1 / Double(Initializer.fans(weightShape).fanIn).squareRoot()
    return (Initializer.kaimingUniform(a: 5.0.squareRoot()).make(weightShape, dtype: dtype),
            bias ? Initializer.uniform(low: -bound, high: bound).make([outChannels], dtype: dtype) : nil)
}

private func checkGeometry(_ layer: String, stride: Size2D, padding: ConvPadding, dilation: Size2D) {
    precondition(stride.height > 0 && stride.width > 0 && dilation.height > 0 && dilation.width > 0,
                 "\(layer): stride \(stride.array) and dilation \(dilation.array) must be positive")
    if case .explicit(let amounts) = padding {
        precondition(amounts.height >= 0 && amounts.width >= 0, "\(layer): padding must be non-negative, got \(amounts.array)")
    }
    precondition(padding != .same || stride == 1, "\(layer): padding \"same\" needs stride 1 (as PyTorch), got \(stride.array)")
}

/// Pads the bottom and right of the last two axes (the last one only for 1-D) by `extra`.
private func padExtra(_ x: Tensor, _ extra: Size2D) -> Tensor {
    var padding = [Padding](repeating: Padding(0, 0), count: x.rank)
    padding[x.rank - 1].after = extra.width
    if x.rank == 4 { padding[2].after = extra.height }
    return x.padded(padding)
}

/// 2-D convolution over [N, C, H, W] (or an unbatched [C, H, W]) with PyTorch's layout
/// (`weight` [outChannels, inChannels/groups, kh, kw]) and default initialization.
public final class Conv2d: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2D
    public let stride: Size2D
    public let padding: ConvPadding
    public let dilation: Size2D
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2D, stride: Size2D = 1, padding: ConvPadding = 0,
                dilation: Size2D = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        let name = "Conv2d(\(inChannels), \(outChannels), kernelSize: \(kernelSize.array))"
        checkGeometry(name, stride: stride, padding: padding, dilation: dilation)
        (weight, self.bias) = convolutionParameters(
            name, inChannels: inChannels, outChannels: outChannels, groups: groups,
            weightShape: [outChannels, inChannels / max(groups, 1), kernelSize.height, kernelSize.width], bias: bias, dtype: dtype)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition((x.rank == 4 || x.rank == 3) && x.shape[x.rank - 3] == inChannels,
                     "Conv2d(\(inChannels), \(outChannels)): expected an input [N, \(inChannels), H, W] or [\(inChannels), H, W], got \(x.shape)")
        let (symmetric, extra) = padding.resolved(kernel: kernelSize, dilation: dilation)
        return withBatchAxis(x, spatialAxes: 2) { x in
            conv2d(padExtra(x, extra), weight: weight, bias: bias, stride: stride, padding: symmetric,
                   dilation: dilation, groups: groups)
        }
    }
}

/// 1-D convolution over [N, C, L] (or an unbatched [C, L]) with PyTorch's layout (`weight`
/// [outChannels, inChannels/groups, k]) and default initialization.
public final class Conv1d: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: ConvPadding
    public let dilation: Int
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: ConvPadding = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        let name = "Conv1d(\(inChannels), \(outChannels), kernelSize: \(kernelSize))"
        checkGeometry(name, stride: Size2D(1, stride), padding: padding, dilation: Size2D(1, dilation))
        if case .explicit(let amounts) = padding {
            precondition(amounts.height == amounts.width, "\(name): padding takes one amount, got \(amounts.array)")
        }
        (weight, self.bias) = convolutionParameters(
            name, inChannels: inChannels, outChannels: outChannels, groups: groups,
            weightShape: [outChannels, inChannels / max(groups, 1), kernelSize], bias: bias, dtype: dtype)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition((x.rank == 3 || x.rank == 2) && x.shape[x.rank - 2] == inChannels,
                     "Conv1d(\(inChannels), \(outChannels)): expected an input [N, \(inChannels), L] or [\(inChannels), L], got \(x.shape)")
        let (symmetric, extra) = padding.resolved(kernel: Size2D(1, kernelSize), dilation: Size2D(1, dilation))
        return withBatchAxis(x, spatialAxes: 1) { x in
            conv1d(padExtra(x, extra), weight: weight, bias: bias, stride: stride, padding: symmetric.width,
                   dilation: dilation, groups: groups)
        }
    }
}

/// 2-D transposed convolution over [N, C, H, W] (or an unbatched [C, H, W]), the adjoint of
/// `Conv2d`, with PyTorch's layout (`weight` [inChannels, outChannels/groups, kh, kw]) and
/// default initialization. `outputPadding` adds rows and columns at the bottom and right to
/// pick among the output sizes that a strided convolution maps to the same input size.
public final class ConvTranspose2d: Module, Layer {
    @Parameter public var weight: Tensor
    @Parameter public var bias: Tensor?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2D
    public let stride: Size2D
    public let padding: Size2D
    public let outputPadding: Size2D
    public let dilation: Size2D
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2D, stride: Size2D = 1, padding: Size2D = 0,
                outputPadding: Size2D = 0, dilation: Size2D = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        let name = "ConvTranspose2d(\(inChannels), \(outChannels), kernelSize: \(kernelSize.array))"
        checkGeometry(name, stride: stride, padding: .explicit(padding), dilation: dilation)
        let extra = outputPadding.array, strides = stride.array, dilations = dilation.array
        precondition((0..<2).allSatisfy { extra[$0] >= 0 && (extra[$0] < strides[$0] || extra[$0] < dilations[$0]) },
                     "\(name): outputPadding \(extra) must be non-negative and smaller than the stride \(strides) or the dilation \(dilations)")
        (weight, self.bias) = convolutionParameters(
            name, inChannels: inChannels, outChannels: outChannels, groups: groups,
            weightShape: [inChannels, outChannels / max(groups, 1), kernelSize.height, kernelSize.width], bias: bias, dtype: dtype)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition((x.rank == 4 || x.rank == 3) && x.shape[x.rank - 3] == inChannels,
                     "ConvTranspose2d(\(inChannels), \(outChannels)): expected an input [N, \(inChannels), H, W] or [\(inChannels), H, W], got \(x.shape)")
        return withBatchAxis(x, spatialAxes: 2) { x in
            convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                            dilation: dilation, groups: groups)
        }
    }
}
