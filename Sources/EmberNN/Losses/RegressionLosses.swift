import Ember

// Regression losses on the difference between predictions and targets of the same shape,
// as PyTorch's `mse_loss`, `l1_loss`, `smooth_l1_loss` and `huber_loss`. Unlike PyTorch,
// targets of another shape are an error rather than a broadcast with a warning.

/// Squared error (x - y)².
public func mseLoss(predictions: Tensor, targets: Tensor, reduction: LossReduction = .mean) -> Tensor {
    reduction.apply(difference("mseLoss", predictions, targets).square())
}

/// Absolute error |x - y|.
public func l1Loss(predictions: Tensor, targets: Tensor, reduction: LossReduction = .mean) -> Tensor {
    reduction.apply(difference("l1Loss", predictions, targets).abs())
}

/// 0.5 d² / β where |d| < β, |d| - 0.5 β elsewhere (d = x - y): the L1 loss with its kink
/// at 0 rounded off; β = 0 is the L1 loss.
public func smoothL1Loss(predictions: Tensor, targets: Tensor, beta: Double = 1, reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        if !(beta >= 0) { throw ShapeError("smoothL1Loss", "beta must be non-negative, got \(beta)") }
    }
    let d = difference("smoothL1Loss", predictions, targets)
    guard beta > 0 else { return reduction.apply(d.abs()) }
    let size = d.abs()
    return reduction.apply(Tensor.where(size .< beta, 0.5 / beta * d.square(), size - 0.5 * beta))
}

/// 0.5 d² where |d| < δ, δ (|d| - 0.5 δ) elsewhere (d = x - y): δ times the smooth L1 loss
/// with β = δ.
public func huberLoss(predictions: Tensor, targets: Tensor, delta: Double = 1, reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        if !(delta > 0) { throw ShapeError("huberLoss", "delta must be positive, got \(delta)") }
    }
    let d = difference("huberLoss", predictions, targets)
    let size = d.abs()
    return reduction.apply(Tensor.where(size .< delta, 0.5 * d.square(), delta * (size - 0.5 * delta)))
}

/// predictions - targets, after checking that they pair up (in float32 under `autocast`).
private func difference(_ function: String, _ predictions: Tensor, _ targets: Tensor) -> Tensor {
    validate { () throws(ShapeError) in try checkPaired(function, predictions: predictions, targets: targets) }
    let predictions = Autocast.widened(predictions)
    return predictions - targets.cast(to: predictions.dtype)
}

/// `mseLoss` with its reduction fixed, as `torch.nn.MSELoss`.
public struct MSELoss: Loss {
    public var reduction: LossReduction
    public init(reduction: LossReduction = .mean) { self.reduction = reduction }
    public func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        mseLoss(predictions: predictions, targets: targets, reduction: reduction)
    }
}

/// `l1Loss` with its reduction fixed, as `torch.nn.L1Loss`.
public struct L1Loss: Loss {
    public var reduction: LossReduction
    public init(reduction: LossReduction = .mean) { self.reduction = reduction }
    public func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        l1Loss(predictions: predictions, targets: targets, reduction: reduction)
    }
}

/// `smoothL1Loss` with its options fixed, as `torch.nn.SmoothL1Loss`.
public struct SmoothL1Loss: Loss {
    public var beta: Double
    public var reduction: LossReduction
    public init(beta: Double = 1, reduction: LossReduction = .mean) {
        self.beta = beta
        self.reduction = reduction
    }
    public func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        smoothL1Loss(predictions: predictions, targets: targets, beta: beta, reduction: reduction)
    }
}

/// `huberLoss` with its options fixed, as `torch.nn.HuberLoss`.
public struct HuberLoss: Loss {
    public var delta: Double
    public var reduction: LossReduction
    public init(delta: Double = 1, reduction: LossReduction = .mean) {
        self.delta = delta
        self.reduction = reduction
    }
    public func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        huberLoss(predictions: predictions, targets: targets, delta: delta, reduction: reduction)
    }
}
