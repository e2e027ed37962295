import Ember

/// Batch normalization over the channels C of [N, C, ...] (PyTorch's `_BatchNorm`; use
/// `BatchNorm1d` or `BatchNorm2d`). In training the batch statistics normalize the input
/// and update the running ones: `momentum` blends them in (running = (1 - m)·running + m·batch,
/// with the batch's unbiased variance), or with `momentum: nil` they are the cumulative
/// average over `num_batches_tracked` batches. In evaluation the running statistics
/// normalize, unless `trackRunningStats` is off and there are none.
public class BatchNorm: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    @Buffer public var runningMean: Tensor?
    @Buffer public var runningVar: Tensor?
    @Buffer public var numBatchesTracked: Tensor?
    public let numFeatures: Int
    public let epsilon: Double
    public let momentum: Double?
    /// When set, training forward passes normalize with statistics over every process's
    /// batch (SyncBatchNorm; see EmberDistributed's `convertSyncBatchNorm`).
    public var synchronizer: (any BatchNormSynchronizer)?
    /// The ranks the layer accepts and how its input is written in messages.
    let ranks: [Int]
    let layout: String

    init(_ numFeatures: Int, epsilon: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool, dtype: DType,
         ranks: [Int], layout: String) {
        precondition(numFeatures > 0, "BatchNorm: numFeatures must be positive, got \(numFeatures)")
        precondition(epsilon >= 0, "BatchNorm(\(numFeatures)): epsilon must be non-negative, got \(epsilon)")
        precondition(momentum.map { (0...1).contains($0) } ?? true, "BatchNorm(\(numFeatures)): momentum must be in [0, 1] or nil, got \(momentum!)")
        self.numFeatures = numFeatures
        self.epsilon = epsilon
        self.momentum = momentum
        self.ranks = ranks
        self.layout = layout
        weight = affine ? .ones([numFeatures], dtype: dtype) : nil
        bias = affine ? .zeros([numFeatures], dtype: dtype) : nil
        runningMean = trackRunningStats ? .zeros([numFeatures], dtype: dtype) : nil
        runningVar = trackRunningStats ? .ones([numFeatures], dtype: dtype) : nil
        numBatchesTracked = trackRunningStats ? .zeros([], dtype: .int64) : nil
    }

    public var affine: Bool { weight != nil }
    public var trackRunningStats: Bool { runningMean != nil }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(ranks.contains(x.rank) && x.shape[1] == numFeatures,
                     "\(typeName)(\(numFeatures)): expected an input \(layout) with C = \(numFeatures), got \(x.shape)")
        if isTraining, let count = numBatchesTracked { count.assign(count + 1) }
        if isTraining, let synchronizer { return synchronizedForward(x, synchronizer) }
        // Without a momentum, the cumulative average: the batch's statistics are blended in
        // with weight 1 / count, a tensor, so that nothing reads values (the layer compiles).
        let result = batchNorm(x, runningMean: runningMean, runningVariance: runningVar, weight: weight, bias: bias,
                               training: isTraining || runningMean == nil, momentum: momentum ?? 1, epsilon: epsilon)
        // In place, as PyTorch: whoever holds the buffers (a state dict) sees the update.
        if isTraining, let runningMean, let runningVar {
            if momentum == nil, let count = numBatchesTracked {
                noGrad {
                    let weight = 1 / count.cast(to: runningMean.dtype)
                    runningMean.assign(runningMean + (result.runningMean! - runningMean) * weight)
                    runningVar.assign(runningVar + (result.runningVariance! - runningVar) * weight)
                }
            } else {
                runningMean.assign(result.runningMean!)
                runningVar.assign(result.runningVariance!)
            }
        }
        return result.output
    }

    /// Normalizes with the statistics of all processes' batches and blends their mean and
    /// unbiased variance into the running statistics.
    private func synchronizedForward(_ x: Tensor, _ synchronizer: any BatchNormSynchronizer) -> Tensor {
        let result = synchronizer.batchNorm(x, weight: weight, bias: bias, epsilon: epsilon)
        if let runningMean, let runningVar {
            noGrad {
                let blend = momentum.map { Tensor($0).cast(to: runningMean.dtype) }
                    ?? 1 / numBatchesTracked!.cast(to: runningMean.dtype)
                runningMean.assign(runningMean + (result.mean - runningMean) * blend)
                runningVar.assign(runningVar + (result.unbiasedVariance - runningVar) * blend)
            }
        }
        return result.output
    }
}

/// Batch normalization whose statistics span several processes (implemented by
/// EmberDistributed's SyncBatchNorm): the output of a training forward pass, with the
/// global batch mean and unbiased variance per channel, detached, for the running statistics.
public protocol BatchNormSynchronizer: AnyObject {
    func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double)
        -> (output: Tensor, mean: Tensor, unbiasedVariance: Tensor)
}

/// Batch normalization of [N, C] or [N, C, L] over all axes but C.
public final class BatchNorm1d: BatchNorm {
    public init(_ numFeatures: Int, epsilon: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, dtype: DType = .float32) {
        super.init(numFeatures, epsilon: epsilon, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   dtype: dtype, ranks: [2, 3], layout: "[N, C] or [N, C, L]")
    }
}

/// Batch normalization of [N, C, H, W] over all axes but C.
public final class BatchNorm2d: BatchNorm {
    public init(_ numFeatures: Int, epsilon: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, dtype: DType = .float32) {
        super.init(numFeatures, epsilon: epsilon, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   dtype: dtype, ranks: [4], layout: "[N, C, H, W]")
    }
}

/// Layer normalization over the trailing axes `normalizedShape`, with the biased variance;
/// `weight` and `bias` (ones and zeros, of shape `normalizedShape`) unless turned off.
public final class LayerNorm: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let normalizedShape: [Int]
    public let epsilon: Double

    public init(_ normalizedShape: [Int], epsilon: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                dtype: DType = .float32) {
        precondition(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
                     "LayerNorm: normalizedShape must be non-empty with positive sizes, got \(normalizedShape)")
        precondition(epsilon >= 0, "LayerNorm(\(normalizedShape)): epsilon must be non-negative, got \(epsilon)")
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = elementwiseAffine ? .ones(normalizedShape, dtype: dtype) : nil
        self.bias = elementwiseAffine && bias ? .zeros(normalizedShape, dtype: dtype) : nil
    }

    /// Normalization over the last axis, of size `normalizedSize`.
    public convenience init(_ normalizedSize: Int, epsilon: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                            dtype: DType = .float32) {
        self.init([normalizedSize], epsilon: epsilon, elementwiseAffine: elementwiseAffine, bias: bias, dtype: dtype)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.suffix(normalizedShape.count).elementsEqual(normalizedShape),
                     "LayerNorm(\(normalizedShape)): expected an input whose trailing axes are \(normalizedShape), got \(x.shape)")
        return layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Group normalization of [N, C, ...]: the channels are split into `numGroups` groups, each
/// normalized over its channels and all other axes of one sample, then scaled and shifted
/// per channel (`weight` ones, `bias` zeros, of shape [numChannels]) unless `affine` is off.
public final class GroupNorm: Module, Layer {
    @Parameter public var weight: Tensor?
    @Parameter public var bias: Tensor?
    public let numGroups: Int
    public let numChannels: Int
    public let epsilon: Double

    public init(_ numGroups: Int, _ numChannels: Int, epsilon: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) {
        precondition(numGroups > 0 && numChannels > 0 && numChannels % numGroups == 0,
                     "GroupNorm: numChannels (\(numChannels)) must be a positive multiple of numGroups (\(numGroups))")
        precondition(epsilon >= 0, "GroupNorm(\(numGroups), \(numChannels)): epsilon must be non-negative, got \(epsilon)")
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.epsilon = epsilon
        weight = affine ? .ones([numChannels], dtype: dtype) : nil
        bias = affine ? .zeros([numChannels], dtype: dtype) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == numChannels && x.count > 0,
                     "GroupNorm(\(numGroups), \(numChannels)): expected a non-empty input [N, \(numChannels), ...], got \(x.shape)")
        // Each group of one sample is a row of [N, G, rest]: layer normalization over the rows.
        let groups = x.reshaped(to: [x.shape[0], numGroups, -1])
        let normalized = layerNorm(groups, normalizedShape: [groups.shape[2]], epsilon: epsilon).reshaped(to: x.shape)
        guard let weight, let bias else { return normalized }
        let perChannel = [1, numChannels] + [Int](repeating: 1, count: x.rank - 2)
        return normalized * weight.reshaped(to: perChannel) + bias.reshaped(to: perChannel)
    }
}
