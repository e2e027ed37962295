import Ember
import EmberNN

/// ResNet v1.5 in torchvision's layout (`conv1`, `bn1`, `layer1.0.conv1`, ...,
/// `layer2.0.downsample.0`, `fc`), so a torchvision state dict saved as safetensors loads
/// by name. The CIFAR variant has a 3x3 stride-1 stem and no max-pool.
public final class ResNet: Module, Layer {
    public enum Block: Sendable {
        /// Two 3x3 convolutions (ResNet-18/34).
        case basic
        /// 1x1, 3x3 (strided, v1.5), 1x1 with 4x expansion (ResNet-50 and deeper).
        case bottleneck

        var expansion: Int { self == .basic ? 1 : 4 }
    }

    let conv1: Conv2d
    let bn1: BatchNorm2d
    let relu = ReLU()
    /// Absent in the CIFAR variant.
    let maxpool: MaxPool2d?
    let layer1: Sequential
    let layer2: Sequential
    let layer3: Sequential
    let layer4: Sequential
    let avgpool = AdaptiveAvgPool2d(1)
    let fc: Linear

    /// The side of the images the stem is made for: 32 with the CIFAR stem, else ImageNet's 224.
    public var imageSize: Int { maxpool == nil ? 32 : 224 }

    /// `layers` gives the number of blocks in each of the four stages. `baseWidth` is the
    /// number of channels of the stem and the first stage (the paper's 64), doubled by each
    /// later stage: a smaller one gives the same architecture narrower (quick tests).
    public init(block: Block, layers: [Int], classes: Int = 1000, cifarStem: Bool = false, baseWidth: Int = 64,
                dtype: DType = .float32) {
        precondition(layers.count == 4 && layers.allSatisfy { $0 > 0 }, "ResNet: need four positive stage depths, got \(layers)")
        precondition(classes > 0, "ResNet: classes must be positive, got \(classes)")
        precondition(baseWidth > 0, "ResNet: baseWidth must be positive, got \(baseWidth)")
        conv1 = cifarStem ? Conv2d(3, baseWidth, kernelSize: 3, stride: 1, padding: 1, bias: false, dtype: dtype)
                          : Conv2d(3, baseWidth, kernelSize: 7, stride: 2, padding: 3, bias: false, dtype: dtype)
        bn1 = BatchNorm2d(baseWidth, dtype: dtype)
        maxpool = cifarStem ? nil : MaxPool2d(3, stride: 2, padding: 1)
        var inplanes = baseWidth
        func stage(_ planes: Int, _ count: Int, stride: Int) -> Sequential {
            var blocks = [any Layer]()
            for index in 0..<count {
                let block = ResidualBlock(block, inplanes: inplanes, planes: planes, stride: index == 0 ? stride : 1, dtype: dtype)
                inplanes = planes * block.kind.expansion
                blocks.append(block)
            }
            return Sequential(blocks)
        }
        layer1 = stage(baseWidth, layers[0], stride: 1)
        layer2 = stage(2 * baseWidth, layers[1], stride: 2)
        layer3 = stage(4 * baseWidth, layers[2], stride: 2)
        layer4 = stage(8 * baseWidth, layers[3], stride: 2)
        fc = Linear(8 * baseWidth * block.expansion, classes, dtype: dtype)
        super.init()
        Self.initializeLikeTorchvision(self)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "ResNet: expected images [N, 3, H, W], got \(x.shape)")
        var y = relu(bn1(conv1(x)))
        if let maxpool { y = maxpool(y) }
        y = layer4(layer3(layer2(layer1(y))))
        return fc(avgpool(y).flattened(from: 1))
    }

    /// torchvision's initialization: Kaiming-normal (fan-out, ReLU) convolutions, batch norm
    /// weights 1 and biases 0.
    static func initializeLikeTorchvision(_ model: Module) {
        for (_, module) in model.namedModules() {
            if let conv = module as? Conv2d {
                Initializer.kaimingNormal(mode: .fanOut, nonlinearity: .relu).apply(to: conv.weight)
            } else if let bn = module as? BatchNorm2d, let weight = bn.weight, let bias = bn.bias {
                Initializer.ones.apply(to: weight)
                Initializer.zeros.apply(to: bias)
            }
        }
    }

    public static func resnet18(classes: Int = 1000, dtype: DType = .float32) -> ResNet {
        ResNet(block: .basic, layers: [2, 2, 2, 2], classes: classes, dtype: dtype)
    }
    public static func resnet34(classes: Int = 1000, dtype: DType = .float32) -> ResNet {
        ResNet(block: .basic, layers: [3, 4, 6, 3], classes: classes, dtype: dtype)
    }
    public static func resnet50(classes: Int = 1000, dtype: DType = .float32) -> ResNet {
        ResNet(block: .bottleneck, layers: [3, 4, 6, 3], classes: classes, dtype: dtype)
    }

    /// ResNet-18 for 32x32 images (CIFAR): 3x3 stem, no max-pool.
    public static func resnet18Cifar(classes: Int = 10, dtype: DType = .float32) -> ResNet {
        ResNet(block: .basic, layers: [2, 2, 2, 2], classes: classes, cifarStem: true, dtype: dtype)
    }
}

/// One residual block; its state keys are torchvision's (`conv1`, `bn1`, ..., `downsample.0`).
final class ResidualBlock: Module, Layer {
    let kind: ResNet.Block
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let conv3: Conv2d?
    let bn3: BatchNorm2d?
    let relu = ReLU()
    /// A strided 1x1 convolution and batch norm where the shortcut changes shape.
    let downsample: Sequential?

    init(_ kind: ResNet.Block, inplanes: Int, planes: Int, stride: Int, dtype: DType) {
        self.kind = kind
        let out = planes * kind.expansion
        switch kind {
        case .basic:
            conv1 = Conv2d(inplanes, planes, kernelSize: 3, stride: Size2D(stride, stride), padding: 1, bias: false, dtype: dtype)
            conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false, dtype: dtype)
            conv3 = nil
            bn3 = nil
        case .bottleneck:
            conv1 = Conv2d(inplanes, planes, kernelSize: 1, bias: false, dtype: dtype)
            conv2 = Conv2d(planes, planes, kernelSize: 3, stride: Size2D(stride, stride), padding: 1, bias: false, dtype: dtype)
            conv3 = Conv2d(planes, out, kernelSize: 1, bias: false, dtype: dtype)
            bn3 = BatchNorm2d(out, dtype: dtype)
        }
        bn1 = BatchNorm2d(planes, dtype: dtype)
        bn2 = BatchNorm2d(planes, dtype: dtype)
        downsample = stride != 1 || inplanes != out
            ? Sequential(Conv2d(inplanes, out, kernelSize: 1, stride: Size2D(stride, stride), bias: false, dtype: dtype),
                         BatchNorm2d(out, dtype: dtype))
            : nil
    }

    func forward(_ x: Tensor) -> Tensor {
        var y = relu(bn1(conv1(x)))
        y = bn2(conv2(y))
        if let conv3, let bn3 { y = bn3(conv3(relu(y))) }
        return relu(y + (downsample?(x) ?? x))
    }
}
