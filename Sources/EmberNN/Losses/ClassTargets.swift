import Ember

/// How class scores and their targets line up, for the classification losses and metrics:
/// scores [N, C, d1, ...] with the classes on axis 1 (or one sample, [C]); targets either
/// class indices [N, d1, ...] (or a scalar) or class probabilities shaped like the scores.
enum ClassTargets {
    /// Axis 1, or 0 for one sample without a batch axis.
    static func classAxis(_ scores: [Int]) -> Int { scores.count == 1 ? 0 : 1 }

    static func classCount(_ scores: [Int]) -> Int { scores[classAxis(scores)] }

    /// The shape class indices must have for `scores`: the scores' shape without the class axis.
    static func indexShape(_ scores: [Int]) -> [Int] {
        var shape = scores
        shape.remove(at: classAxis(scores))
        return shape
    }

    static func checkScores(_ function: String, _ name: String, _ scores: Tensor) throws(ShapeError) {
        try checkFloatingPoint(function, name, scores)
        if scores.rank == 0 {
            throw ShapeError(function, "\(name) must have a class axis: [N, C, ...] or [C], got a scalar")
        }
    }

    /// Checks integer class indices against the scores' shape.
    static func checkIndices(_ function: String, scores: Tensor, labels: Tensor, names: (String, String)) throws(ShapeError) {
        try checkScores(function, names.0, scores)
        if labels.dtype != .int64 && labels.dtype != .int32 {
            throw ShapeError(function, "\(names.1) must be int64 or int32 class indices, got \(labels.dtype)")
        }
        let expected = indexShape(scores.shape)
        if labels.shape != expected {
            throw ShapeError(function, "\(names.1) of shape \(labels.shape) do not match \(names.0) of shape \(scores.shape); "
                             + "expected class indices of shape \(expected)")
        }
    }

    /// Checks targets that may be class indices or class probabilities.
    static func checkIndicesOrProbabilities(_ function: String, scores: Tensor, labels: Tensor, names: (String, String)) throws(ShapeError) {
        guard labels.dtype.isFloatingPoint else {
            return try checkIndices(function, scores: scores, labels: labels, names: names)
        }
        try checkScores(function, names.0, scores)
        if labels.shape != scores.shape {
            throw ShapeError(function, "\(labels.dtype) \(names.1) of shape \(labels.shape) do not match \(names.0) of shape "
                             + "\(scores.shape); expected class probabilities of shape \(scores.shape) "
                             + "or int64 class indices of shape \(indexShape(scores.shape))")
        }
    }

    /// Checks class weights: floating point, one per class.
    static func checkClassWeight(_ function: String, _ weight: Tensor?, classes: Int) throws(ShapeError) {
        guard let weight else { return }
        try checkFloatingPoint(function, "weight", weight)
        if weight.shape != [classes] {
            throw ShapeError(function, "weight of shape \(weight.shape) must hold one value per class, shape [\(classes)]")
        }
    }

    /// Scores and targets with a batch axis: one sample [C] becomes a batch of one.
    static func batched(_ scores: Tensor, _ targets: Tensor) -> (Tensor, Tensor) {
        scores.rank == 1 ? (scores.unsqueezed(axis: 0), targets.unsqueezed(axis: 0)) : (scores, targets)
    }

    /// The targets as class indices: probabilities become their most likely class.
    static func indices(_ targets: Tensor) -> Tensor {
        targets.dtype.isFloatingPoint ? targets.argmax(axis: 1) : targets
    }
}
