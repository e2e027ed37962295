import Ember
import EmberNN

/// LeNet-5 (LeCun et al., 1998) as PyTorch tutorials write it: conv 6@5x5 → 2x2 max-pool →
/// conv 16@5x5 → 2x2 max-pool → fc 120 → fc 84 → fc classes, with ReLU after every layer but
/// the last. The paper's scaled tanh, trainable average subsampling and partially connected
/// C3 layer are replaced by ReLU, max pooling and a full convolution, which train faster and
/// are what "LeNet" means in PyTorch code. State keys: `conv1`, `conv2`, `fc1`, `fc2`, `fc3`.
///
/// The network sees 32x32 images (the paper's padded MNIST). For 28x28 images (MNIST as
/// torchvision gives it) the first convolution pads by 2, as the common PyTorch version does;
/// both reach fc1 with 16x5x5 features, so the weights have the same shapes.
public final class LeNet5: Module, Layer {
    let conv1: Conv2d
    let conv2: Conv2d
    let fc1: Linear
    let fc2: Linear
    let fc3: Linear
    let pool = MaxPool2d(2)

    public let inputChannels: Int
    /// The side of the square images the network takes: 32, or 28 (first convolution padded).
    public let inputSize: Int

    public init(classes: Int = 10, inputChannels: Int = 1, inputSize: Int = 32, dtype: DType = .float32) {
        precondition(classes > 0 && inputChannels > 0,
                     "LeNet5: classes and input channels must be positive, got \(classes) and \(inputChannels)")
        precondition(inputSize == 32 || inputSize == 28, "LeNet5: inputSize must be 32 or 28 (padded to 32), got \(inputSize)")
        self.inputChannels = inputChannels
        self.inputSize = inputSize
        conv1 = Conv2d(inputChannels, 6, kernelSize: 5, padding: .explicit(Size2D((32 - inputSize) / 2, (32 - inputSize) / 2)),
                       dtype: dtype)
        conv2 = Conv2d(6, 16, kernelSize: 5, dtype: dtype)
        fc1 = Linear(16 * 5 * 5, 120, dtype: dtype)
        fc2 = Linear(120, 84, dtype: dtype)
        fc3 = Linear(84, classes, dtype: dtype)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inputChannels && x.shape[2] == inputSize && x.shape[3] == inputSize,
                     "LeNet5: expected images [N, \(inputChannels), \(inputSize), \(inputSize)], found \(x.shape)")
        let features = pool(conv2(pool(conv1(x).relu())).relu())
        return fc3(fc2(fc1(features.flattened(from: 1)).relu()).relu())
    }
}
