import Ember
import EmberNN

/// Batch normalization over the batches of every rank of a group, PyTorch's SyncBatchNorm
/// algorithm, on any backend: in a training forward pass each rank computes its per-channel
/// mean, biased variance and count, the ranks all-gather them and combine them into the
/// global statistics (exactly, by the parallel variance formula), and normalize with those;
/// in backward each rank sums dy and dy·(x − mean) per channel, the ranks all-reduce these
/// two sums, and each computes its input gradient from the global ones. The weight and bias
/// get their local gradients, which DistributedDataParallel averages. Evaluation uses the
/// running statistics without communication.
///
/// Attach it to batch-norm layers with `convertSyncBatchNorm(_:group:)`.
public final class SyncBatchNorm: BatchNormSynchronizer {
    public let group: any ProcessGroup
    /// One custom function per epsilon, so that its traced shapes are cached across calls.
    private var functions: [Double: ([Tensor]) -> [Tensor]] = [:]

    public init(group: any ProcessGroup) {
        self.group = group
    }

    public func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double)
        -> (output: Tensor, mean: Tensor, unbiasedVariance: Tensor) {
        let channels = x.shape[1]
        let outputs = function(epsilon)([x, weight ?? Tensor.ones([channels], dtype: x.dtype),
                                         bias ?? Tensor.zeros([channels], dtype: x.dtype)])
        let (mean, variance, count) = noGrad { (outputs[1].detached(), outputs[2].detached(), outputs[3].detached()) }
        // The running variance is unbiased over the global batch, as in PyTorch.
        let unbiased = noGrad { variance * count / (count - 1).clamp(min: 1) }
        return (outputs[0], mean, unbiased)
    }

    private func function(_ epsilon: Double) -> ([Tensor]) -> [Tensor] {
        if let found = functions[epsilon] { return found }
        let group = group
        let made = customVJP({ inputs in
            Self.forward(inputs[0], inputs[1], inputs[2], epsilon: epsilon, group: group)
        }, backward: { inputs, outputs, cotangents in
            Self.backward(inputs[0], inputs[1], dy: cotangents[0], mean: outputs[1], variance: outputs[2], count: outputs[3],
                          epsilon: epsilon, group: group)
        }, name: "sync_batch_norm")
        functions[epsilon] = made
        return made
    }

    /// The reduced axes (all but the channels) and the per-channel broadcast shape.
    private static func layout(_ x: Tensor) -> (axes: [Int], channelShape: [Int]) {
        var shape = [Int](repeating: 1, count: x.rank)
        shape[1] = x.shape[1]
        return ([0] + Array(2..<x.rank), shape)
    }

    /// Outputs y, the global mean and biased variance per channel, and the global count [1].
    static func forward(_ x: Tensor, _ weight: Tensor, _ bias: Tensor, epsilon: Double, group: any ProcessGroup) -> [Tensor] {
        let (axes, channelShape) = layout(x)
        let channels = x.shape[1]
        let localCount = Double(x.count / max(channels, 1))
        // Sums over max(count, 1), so that an empty batch contributes zeros, not NaN.
        let localMean = x.sum(axes: axes) / max(localCount, 1)
        let centered = x - localMean.reshaped(to: channelShape)
        let localVariance = (centered * centered).sum(axes: axes) / max(localCount, 1)
        let countTensor = Tensor.full([1], localCount, dtype: x.dtype)
        var mean = localMean, variance = localVariance, count = countTensor
        // While the shapes of the outputs are traced there is nothing to exchange.
        if !x.isAbstract {
            let stats = Tensor.concatenate([localMean, localVariance, countTensor])
            let all = stopOnError { try group.allGather(stats) }  // [worldSize, 2C + 1]
            let means = all.narrow(axis: 1, start: 0, count: channels)
            let variances = all.narrow(axis: 1, start: channels, count: channels)
            let counts = all.narrow(axis: 1, start: 2 * channels, count: 1)
            count = counts.sum(axes: [0])
            mean = (means * counts).sum(axes: [0]) / count
            let spread = means - mean.reshaped(to: [1, channels])
            variance = ((variances + spread * spread) * counts).sum(axes: [0]) / count
        }
        let inverseStd = (variance + epsilon).rsqrt()
        let y = (x - mean.reshaped(to: channelShape)) * (inverseStd * weight).reshaped(to: channelShape)
            + bias.reshaped(to: channelShape)
        return [y, mean, variance, count]
    }

    /// The gradients of x, weight and bias; the statistics' cotangents are ignored, as in
    /// native batch norm.
    static func backward(_ x: Tensor, _ weight: Tensor, dy: Tensor, mean: Tensor, variance: Tensor, count: Tensor,
                         epsilon: Double, group: any ProcessGroup) -> [Tensor] {
        if x.isAbstract {
            fatalError("SyncBatchNorm: its backward pass exchanges data between processes and cannot be traced (compile or vmap a training step without it)")
        }
        let (axes, channelShape) = layout(x)
        let channels = x.shape[1]
        let inverseStd = (variance + epsilon).rsqrt()
        let centered = x - mean.reshaped(to: channelShape)
        let sumDy = dy.sum(axes: axes)
        let sumDyCentered = (dy * centered).sum(axes: axes)
        let gradWeight = sumDyCentered * inverseStd
        let gradBias = sumDy
        let sums = Tensor.concatenate([sumDy, sumDyCentered])
        stopOnError { try group.allReduce(sums, op: .sum) }
        let meanDy = sums.narrow(axis: 0, start: 0, count: channels) / count
        let meanDyCentered = sums.narrow(axis: 0, start: channels, count: channels) / count
        let gradInput = (dy - meanDy.reshaped(to: channelShape)
            - centered * (inverseStd * inverseStd * meanDyCentered).reshaped(to: channelShape))
            * (inverseStd * weight).reshaped(to: channelShape)
        return [gradInput, gradWeight, gradBias]
    }
}

/// Makes every batch-norm layer of `model` synchronize its training statistics over
/// `group` (PyTorch's `SyncBatchNorm.convert_sync_batchnorm`). The layers keep their
/// parameters, buffers and state keys; returns the model.
@discardableResult
public func convertSyncBatchNorm<M: Module>(_ model: M, group: any ProcessGroup) -> M {
    let synchronizer = SyncBatchNorm(group: group)
    for (_, module) in model.namedModules() {
        if let batchNorm = module as? BatchNorm { batchNorm.synchronizer = synchronizer }
    }
    return model
}
