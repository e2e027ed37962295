import Ember

/// Keras's `GlobalMaxPooling2D`: the largest value of each channel, [N, C, H, W] → [N, C].
/// Ember's images are channels-first (PyTorch's layout); channels-last data (Keras's
/// default, [N, H, W, C]) is turned once at the input with `ChannelsFirst`.
public final class GlobalMaxPooling2D: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "GlobalMaxPooling2D: expected an input [N, C, H, W], got \(x.shape)")
        return x.max(axes: [2, 3])
    }
}

/// Keras's `GlobalAveragePooling2D`: the mean of each channel, [N, C, H, W] → [N, C].
public final class GlobalAveragePooling2D: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "GlobalAveragePooling2D: expected an input [N, C, H, W], got \(x.shape)")
        return x.mean(axes: [2, 3])
    }
}

/// Channels-last images [N, H, W, C] (Keras's, TensorFlow's and most image files' layout) as
/// Ember's channels-first [N, C, H, W].
public final class ChannelsFirst: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "ChannelsFirst: expected images [N, H, W, C], got \(x.shape)")
        return x.permuted(0, 3, 1, 2)
    }
}
