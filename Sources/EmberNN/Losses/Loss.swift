import Ember

/// How a loss combines its per-element values, as PyTorch's `reduction` argument.
public enum LossReduction: Sendable {
    /// The average (for class-index cross-entropy and NLL: weighted by the targets' class weights).
    case mean
    case sum
    /// The per-element losses, unreduced.
    case none

    /// `losses` averaged, summed or returned as they are.
    func apply(_ losses: Tensor) -> Tensor {
        switch self {
        case .mean: return losses.mean()
        case .sum: return losses.sum()
        case .none: return losses
        }
    }
}

/// A loss function with its options fixed, called as `loss(predictions, targets)`: what a
/// training loop takes. Each loss function has one (`CrossEntropyLoss`, `MSELoss`, ...).
public protocol Loss {
    func callAsFunction(_ predictions: Tensor, _ targets: Tensor) -> Tensor
}

/// Runs the argument checks of a public function; bad arguments are a programmer error, so
/// a failure stops the program with the check's message. The checks throw, so that tests
/// can read their messages.
func validate(_ check: () throws(ShapeError) -> Void) {
    do {
        try check()
    } catch {
        preconditionFailure(error.message)
    }
}

/// Checks that `tensor` has a floating-point dtype.
func checkFloatingPoint(_ function: String, _ name: String, _ tensor: Tensor) throws(ShapeError) {
    if !tensor.dtype.isFloatingPoint {
        throw ShapeError(function, "\(name) must have a floating-point dtype, got \(tensor.dtype)")
    }
}

/// Checks predictions and targets that pair element by element: same shape, floating point.
func checkPaired(_ function: String, predictions: Tensor, targets: Tensor,
                 names: (String, String) = ("predictions", "targets")) throws(ShapeError) {
    try checkFloatingPoint(function, names.0, predictions)
    try checkFloatingPoint(function, names.1, targets)
    if predictions.shape != targets.shape {
        throw ShapeError(function, "\(names.1) of shape \(targets.shape) must have the shape of \(names.0), \(predictions.shape)")
    }
}

/// Checks an optional elementwise weight: floating point and broadcastable to `shape`.
func checkBroadcastWeight(_ function: String, _ name: String, _ weight: Tensor?, to shape: [Int]) throws(ShapeError) {
    guard let weight else { return }
    try checkFloatingPoint(function, name, weight)
    if ShapeMath.broadcast(weight.shape, shape) != shape {
        throw ShapeError(function, "\(name) of shape \(weight.shape) does not broadcast to the input shape \(shape)")
    }
}
