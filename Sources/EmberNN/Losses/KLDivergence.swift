import Ember

/// Kullback-Leibler divergence t (log t - x) of targets t from log-probabilities x, as
/// `torch.nn.functional.kl_div` (the inputs are log-probabilities, the targets probabilities,
/// or log-probabilities when `logTargets`). Zero targets contribute 0.
///
/// `.mean` averages over every element, as PyTorch's 'mean' does today; the mathematical
/// divergence per sample (PyTorch's 'batchmean') is the `.sum` divided by the batch size.
public func klDivergence(logProbabilities: Tensor, targets: Tensor, logTargets: Bool = false,
                         reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        try checkPaired("klDivergence", predictions: logProbabilities, targets: targets, names: ("logProbabilities", "targets"))
    }
    // Losses are computed in float32 under autocast.
    let logProbabilities = Autocast.widened(logProbabilities)
    let t = targets.cast(to: logProbabilities.dtype)
    if logTargets { return reduction.apply(t.exp() * (t - logProbabilities)) }
    // t log t with 0 log 0 = 0 (xlogy); the inner `where` keeps the gradient finite at 0.
    let zero = t .== 0
    let tLogT = Tensor.where(zero, Tensor.scalar(0, dtype: t.dtype), t * Tensor.where(zero, Tensor.scalar(1, dtype: t.dtype), t).log())
    return reduction.apply(tLogT - t * logProbabilities)
}

/// `klDivergence` with its options fixed, as `torch.nn.KLDivLoss`.
public struct KLDivLoss: Loss {
    public var logTargets: Bool
    public var reduction: LossReduction

    public init(logTargets: Bool = false, reduction: LossReduction = .mean) {
        self.logTargets = logTargets
        self.reduction = reduction
    }

    public func callAsFunction(_ logProbabilities: Tensor, _ targets: Tensor) -> Tensor {
        klDivergence(logProbabilities: logProbabilities, targets: targets, logTargets: logTargets, reduction: reduction)
    }
}
