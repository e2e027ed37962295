import Ember
import Foundation

/// Binary cross-entropy -w [y log x + (1 - y) log(1 - x)] between probabilities x and
/// targets y in [0, 1] of the same shape, as `torch.nn.functional.binary_cross_entropy`.
/// `weight` rescales each element and broadcasts to the probabilities' shape.
///
/// As in PyTorch, each logarithm is clamped at -100, so probabilities of exactly 0 or 1
/// give a finite loss. The gradient is the derivative of that clamped formula (finite
/// everywhere); PyTorch's hand-written one, w (x - y) / max(x (1 - x), 1e-12), agrees with
/// it except where x (1 - x) < 1e-12. The values are not checked to lie in [0, 1].
public func binaryCrossEntropy(probabilities: Tensor, targets: Tensor, weight: Tensor? = nil,
                               reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        try checkPaired("binaryCrossEntropy", predictions: probabilities, targets: targets, names: ("probabilities", "targets"))
        try checkBroadcastWeight("binaryCrossEntropy", "weight", weight, to: probabilities.shape)
    }
    // Losses are computed in float32 under autocast.
    let probabilities = Autocast.widened(probabilities)
    let dtype = probabilities.dtype
    let y = targets.cast(to: dtype)
    var loss = -(y * clampedLog(probabilities) + (1 - y) * clampedLog(1 - probabilities))
    if let weight { loss = loss * weight.cast(to: dtype) }
    return reduction.apply(loss)
}

/// log(x) clamped below at -100. The inner `where` keeps log away from x ≤ e^-100, so the
/// gradient there is 0 rather than 0 · ∞ = nan.
private func clampedLog(_ x: Tensor) -> Tensor {
    let floor = -100.0
    let above = x .> Foundation.exp(floor)
    let safe = Tensor.where(above, x, Tensor.scalar(1, dtype: x.dtype))
    return Tensor.where(above, safe.log(), Tensor.scalar(floor, dtype: x.dtype))
}

/// Binary cross-entropy of sigmoid(logits) against targets in [0, 1], as
/// `torch.nn.functional.binary_cross_entropy_with_logits`:
/// w [(1 - y) x + (1 + (p - 1) y) log(1 + e^-x)], with `weight` w rescaling each element
/// and `posWeight` p the positive examples (both broadcast to the logits' shape; p is
/// usually one value per class, on the last axis). Stable for logits of any size.
public func binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil,
                                         reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        try checkPaired("binaryCrossEntropyWithLogits", predictions: logits, targets: targets, names: ("logits", "targets"))
        try checkBroadcastWeight("binaryCrossEntropyWithLogits", "weight", weight, to: logits.shape)
        try checkBroadcastWeight("binaryCrossEntropyWithLogits", "posWeight", posWeight, to: logits.shape)
    }
    let logits = Autocast.widened(logits)
    let dtype = logits.dtype
    let y = targets.cast(to: dtype)
    // log(1 + e^-x) = m + log(e^-m + e^(-x-m)) with m = max(-x, 0): no exponent is positive.
    // The gradient does not depend on m's, so clamp's 0 at the bound is harmless.
    let m = (-logits).clamp(min: 0)
    let softplus = m + ((-m).exp() + (-logits - m).exp()).log()
    var positive = softplus
    if let posWeight { positive = (1 + (posWeight.cast(to: dtype) - 1) * y) * softplus }
    var loss = (1 - y) * logits + positive
    if let weight { loss = loss * weight.cast(to: dtype) }
    return reduction.apply(loss)
}

/// `binaryCrossEntropy` with its options fixed, as `torch.nn.BCELoss`.
public struct BCELoss: Loss {
    public var weight: Tensor?
    public var reduction: LossReduction

    public init(weight: Tensor? = nil, reduction: LossReduction = .mean) {
        self.weight = weight
        self.reduction = reduction
    }

    public func callAsFunction(_ probabilities: Tensor, _ targets: Tensor) -> Tensor {
        binaryCrossEntropy(probabilities: probabilities, targets: targets, weight: weight, reduction: reduction)
    }
}

/// `binaryCrossEntropyWithLogits` with its options fixed, as `torch.nn.BCEWithLogitsLoss`.
public struct BCEWithLogitsLoss: Loss {
    public var weight: Tensor?
    public var posWeight: Tensor?
    public var reduction: LossReduction

    public init(weight: Tensor? = nil, posWeight: Tensor? = nil, reduction: LossReduction = .mean) {
        self.weight = weight
        self.posWeight = posWeight
        self.reduction = reduction
    }

    public func callAsFunction(_ logits: Tensor, _ targets: Tensor) -> Tensor {
        binaryCrossEntropyWithLogits(logits: logits, targets: targets, weight: weight, posWeight: posWeight, reduction: reduction)
    }
}
