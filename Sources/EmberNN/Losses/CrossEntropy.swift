import Ember

/// Cross-entropy between class scores and targets, as `torch.nn.functional.cross_entropy`.
///
/// - `logits`: unnormalized scores [N, C, d1, ...] with the classes on axis 1, or [C].
/// - `labels`: int64/int32 class indices [N, d1, ...] (a scalar for [C] logits), or float
///   class probabilities shaped like `logits`.
/// - `weight`: a rescaling weight per class, shape [C].
/// - `ignoreIndex`: class-index targets equal to it contribute nothing, to the sum nor to
///   the mean's denominator (class probabilities take no ignore index).
/// - `labelSmoothing`: ε in [0, 1]; the target becomes (1 - ε) one-hot + ε / C, weighted
///   per class like the rest (PyTorch's formula).
///
/// With class indices, `.mean` divides by the summed weights of the non-ignored targets
/// (their count without `weight`), so when every target is ignored it is 0/0 = nan, as in
/// PyTorch; with class probabilities it divides by the number of samples N·d1·....
/// Computed from `logSoftmax`, so large logits do not overflow.
public func crossEntropy(logits: Tensor, labels: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         labelSmoothing: Double = 0, reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        try ClassTargets.checkIndicesOrProbabilities("crossEntropy", scores: logits, labels: labels, names: ("logits", "labels"))
        try ClassTargets.checkClassWeight("crossEntropy", weight, classes: ClassTargets.classCount(logits.shape))
        if !(0...1).contains(labelSmoothing) {
            throw ShapeError("crossEntropy", "labelSmoothing must lie in [0, 1], got \(labelSmoothing)")
        }
        if labels.dtype.isFloatingPoint && ignoreIndex >= 0 {
            throw ShapeError("crossEntropy", "ignoreIndex \(ignoreIndex) is not supported with class probabilities")
        }
    }
    let (scores, targets) = ClassTargets.batched(logits, labels)
    let logProbabilities = scores.logSoftmax(axis: 1)
    let loss = labels.dtype.isFloatingPoint
        ? probabilityCrossEntropy(logProbabilities, targets, weight: weight, smoothing: labelSmoothing, reduction: reduction)
        : ClassIndexLoss(logProbabilities, targets, weight: weight, ignoreIndex: ignoreIndex, smoothing: labelSmoothing)
            .reduced(reduction)
    return reduction == .none ? loss.reshaped(to: ClassTargets.indexShape(logits.shape)) : loss
}

/// Negative log-likelihood of class-index targets, as `torch.nn.functional.nll_loss`: the
/// negated, weighted entries of `logProbabilities` ([N, C, d1, ...] or [C]) at `labels`.
/// Weights, the ignore index and `.mean` behave as in `crossEntropy`.
public func nllLoss(logProbabilities: Tensor, labels: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: LossReduction = .mean) -> Tensor {
    validate { () throws(ShapeError) in
        try ClassTargets.checkIndices("nllLoss", scores: logProbabilities, labels: labels, names: ("logProbabilities", "labels"))
        try ClassTargets.checkClassWeight("nllLoss", weight, classes: ClassTargets.classCount(logProbabilities.shape))
    }
    // Losses are computed in float32 under autocast.
    let (scores, targets) = ClassTargets.batched(Autocast.widened(logProbabilities), labels)
    let loss = ClassIndexLoss(scores, targets, weight: weight, ignoreIndex: ignoreIndex, smoothing: 0).reduced(reduction)
    return reduction == .none ? loss.reshaped(to: labels.shape) : loss
}

/// The per-target losses of class-index targets, with the weights `.mean` divides by.
private struct ClassIndexLoss {
    /// -(1 - ε) w[y] log p[y] - (ε / C) Σ_c w[c] log p[c] at each target, 0 where ignored.
    let losses: Tensor
    /// w[y] at each target (1 without class weights), 0 where ignored.
    let weights: Tensor

    init(_ logProbabilities: Tensor, _ labels: Tensor, weight: Tensor?, ignoreIndex: Int, smoothing: Double) {
        let dtype = logProbabilities.dtype
        let zero = Tensor.scalar(0, dtype: dtype)
        let kept = labels .!= Double(ignoreIndex)
        // Ignored targets pick class 0 and are masked out afterwards, with `where` rather
        // than a product so that an infinite log-probability there cannot make a nan.
        let safeLabels = Tensor.where(kept, labels, Tensor.scalar(0, dtype: labels.dtype))
        let picked = logProbabilities.gather(axis: 1, index: safeLabels.unsqueezed(axis: 1)).squeezed(axis: 1)
        let classWeight = weight?.cast(to: dtype)
        var targetWeight = Tensor.ones(labels.shape, dtype: dtype)
        if let classWeight {
            targetWeight = classWeight.indexSelect(axis: 0, index: safeLabels.flattened()).reshaped(to: labels.shape)
        }
        var loss = -picked * targetWeight
        if smoothing > 0 {
            var perClass = logProbabilities
            if let classWeight {
                var shape = [Int](repeating: 1, count: logProbabilities.rank)
                shape[1] = classWeight.count
                perClass = perClass * classWeight.reshaped(to: shape)
            }
            let classes = Double(logProbabilities.shape[1])
            loss = (1 - smoothing) * loss - (smoothing / classes) * perClass.sum(axis: 1)
        }
        losses = Tensor.where(kept, loss, zero)
        weights = Tensor.where(kept, targetWeight, zero)
    }

    func reduced(_ reduction: LossReduction) -> Tensor {
        reduction == .mean ? losses.sum() / weights.sum() : reduction.apply(losses)
    }
}

/// -Σ_c w[c] t[c] log p[c] per sample, for class-probability targets t (smoothed toward
/// uniform by ε); `.mean` averages over the samples.
private func probabilityCrossEntropy(_ logProbabilities: Tensor, _ targets: Tensor, weight: Tensor?, smoothing: Double,
                                     reduction: LossReduction) -> Tensor {
    let dtype = logProbabilities.dtype
    var target = targets.cast(to: dtype)
    if smoothing > 0 {
        target = target * (1 - smoothing) + smoothing / Double(logProbabilities.shape[1])
    }
    var product = logProbabilities * target
    if let weight {
        var shape = [Int](repeating: 1, count: logProbabilities.rank)
        shape[1] = weight.count
        product = product * weight.cast(to: dtype).reshaped(to: shape)
    }
    return reduction.apply(-product.sum(axis: 1))
}

/// `crossEntropy` with its options fixed, as `torch.nn.CrossEntropyLoss`.
public struct CrossEntropyLoss: Loss {
    public var weight: Tensor?
    public var ignoreIndex: Int
    public var labelSmoothing: Double
    public var reduction: LossReduction

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, labelSmoothing: Double = 0, reduction: LossReduction = .mean) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.labelSmoothing = labelSmoothing
        self.reduction = reduction
    }

    public func callAsFunction(_ logits: Tensor, _ labels: Tensor) -> Tensor {
        crossEntropy(logits: logits, labels: labels, weight: weight, ignoreIndex: ignoreIndex,
                     labelSmoothing: labelSmoothing, reduction: reduction)
    }
}

/// `nllLoss` with its options fixed, as `torch.nn.NLLLoss`.
public struct NLLLoss: Loss {
    public var weight: Tensor?
    public var ignoreIndex: Int
    public var reduction: LossReduction

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: LossReduction = .mean) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
    }

    public func callAsFunction(_ logProbabilities: Tensor, _ labels: Tensor) -> Tensor {
        nllLoss(logProbabilities: logProbabilities, labels: labels, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    }
}
