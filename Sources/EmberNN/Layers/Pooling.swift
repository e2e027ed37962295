import Ember

/// Checks pooling settings as PyTorch does, naming the layer.
private func checkPooling(_ layer: String, kernelSize: Size2D, stride: Size2D, padding: Size2D, dilation: Size2D = 1) {
    precondition(kernelSize.height > 0 && kernelSize.width > 0 && stride.height > 0 && stride.width > 0,
                 "\(layer): kernel size \(kernelSize.array) and stride \(stride.array) must be positive")
    precondition(dilation.height > 0 && dilation.width > 0, "\(layer): dilation must be positive, got \(dilation.array)")
    precondition(padding.height >= 0 && padding.width >= 0
                 && padding.height <= kernelSize.height / 2 && padding.width <= kernelSize.width / 2,
                 "\(layer): padding \(padding.array) must be non-negative and at most half the kernel size \(kernelSize.array)")
}

private func checkInput(_ layer: String, _ x: Tensor) {
    precondition(x.rank == 4 || x.rank == 3, "\(layer): expected an input [N, C, H, W] or [C, H, W], got \(x.shape)")
}

/// 2-D max pooling over [N, C, H, W] (or [C, H, W]); the stride defaults to the kernel size,
/// padding counts as -infinity. `dilation` spaces the window's elements; `ceilMode` keeps a
/// partial last window that starts inside the input or the left padding.
public final class MaxPool2d: Module, Layer {
    public let kernelSize: Size2D
    public let stride: Size2D
    public let padding: Size2D
    public let dilation: Size2D
    public let ceilMode: Bool

    public init(_ kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0, dilation: Size2D = 1, ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
        checkPooling("MaxPool2d(\(kernelSize.array))", kernelSize: kernelSize, stride: self.stride, padding: padding, dilation: dilation)
    }

    public func forward(_ x: Tensor) -> Tensor {
        checkInput("MaxPool2d(\(kernelSize.array))", x)
        return withBatchAxis(x, spatialAxes: 2) { x in
            maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        }
    }
}

/// 2-D average pooling over [N, C, H, W] (or [C, H, W]); the stride defaults to the kernel
/// size. Windows are divided by their size counting the padding (`countIncludePad`) or by
/// their input elements; `ceilMode` keeps a partial last window, clipped to the padded input.
public final class AvgPool2d: Module, Layer {
    public let kernelSize: Size2D
    public let stride: Size2D
    public let padding: Size2D
    public let ceilMode: Bool
    public let countIncludePad: Bool

    public init(_ kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        checkPooling("AvgPool2d(\(kernelSize.array))", kernelSize: kernelSize, stride: self.stride, padding: padding)
    }

    public func forward(_ x: Tensor) -> Tensor {
        checkInput("AvgPool2d(\(kernelSize.array))", x)
        return withBatchAxis(x, spatialAxes: 2) { x in
            avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                      countIncludePad: countIncludePad)
        }
    }
}

/// 2-D adaptive average pooling to a fixed `outputSize` over [N, C, H, W] (or [C, H, W]):
/// output cell i along an axis of size n averages elements floor(i·n/out) ..< ceil((i+1)·n/out).
public final class AdaptiveAvgPool2d: Module, Layer {
    public let outputSize: Size2D

    public init(_ outputSize: Size2D) {
        precondition(outputSize.height > 0 && outputSize.width > 0,
                     "AdaptiveAvgPool2d: the output size must be positive, got \(outputSize.array)")
        self.outputSize = outputSize
    }

    public func forward(_ x: Tensor) -> Tensor {
        checkInput("AdaptiveAvgPool2d(\(outputSize.array))", x)
        return withBatchAxis(x, spatialAxes: 2) { adaptiveAvgPool2d($0, outputSize: outputSize) }
    }
}
