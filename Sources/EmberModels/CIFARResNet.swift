import Ember
import EmberNN

/// The small ResNets of He et al. (2016) for 32x32 images: a 3x3 stem of 16 channels, three
/// stages of `n` basic blocks at 16, 32 and 64 channels (the last two halve the resolution;
/// 1x1 projection shortcuts where the shape changes), global average pooling and a linear
/// classifier: 6n + 2 layers (ResNet-8, -20, -56...). Keys follow torchvision's ResNet
/// (`conv1`, `bn1`, `layer1.0.conv1`, ..., `fc`).
public final class CIFARResNet: Module, Layer {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let relu = ReLU()
    let layer1: Sequential
    let layer2: Sequential
    let layer3: Sequential
    let avgpool = AdaptiveAvgPool2d(1)
    let fc: Linear

    public let inputChannels: Int

    /// `depth` is 6n + 2 for n blocks per stage.
    public init(depth: Int, classes: Int = 10, inputChannels: Int = 3, dtype: DType = .float32) {
        precondition(depth >= 8 && (depth - 2) % 6 == 0, "CIFARResNet: depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got \(depth)")
        precondition(classes > 0 && inputChannels > 0, "CIFARResNet: classes and input channels must be positive")
        let blocks = (depth - 2) / 6
        self.inputChannels = inputChannels
        conv1 = Conv2d(inputChannels, 16, kernelSize: 3, padding: 1, bias: false, dtype: dtype)
        bn1 = BatchNorm2d(16, dtype: dtype)
        var inplanes = 16
        func stage(_ planes: Int, stride: Int) -> Sequential {
            let layers: [any Layer] = (0..<blocks).map { index in
                defer { inplanes = planes }
                return ResidualBlock(.basic, inplanes: inplanes, planes: planes, stride: index == 0 ? stride : 1, dtype: dtype)
            }
            return Sequential(layers)
        }
        layer1 = stage(16, stride: 1)
        layer2 = stage(32, stride: 2)
        layer3 = stage(64, stride: 2)
        fc = Linear(64, classes, dtype: dtype)
        super.init()
        ResNet.initializeLikeTorchvision(self)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inputChannels,
                     "CIFARResNet: expected images [N, \(inputChannels), H, W], got \(x.shape)")
        let y = layer3(layer2(layer1(relu(bn1(conv1(x))))))
        return fc(avgpool(y).flattened(from: 1))
    }
}
