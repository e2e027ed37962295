import Ember

/// Scales the gradients of `parameters` together so that their total `normType`-norm (the
/// norm of all gradient elements as one vector; 2, 1, .infinity or any p > 0) is at most
/// `maxNorm`, and returns the total norm before clipping: torch.nn.utils.clip_grad_norm_.
/// Parameters without a gradient are left out; the others' gradients are replaced by
/// scaled tensors (a gradient may share storage with a tensor the caller holds).
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Tensor {
    precondition(normType > 0, "clipGradNorm: normType must be positive (or .infinity), got \(normType)")
    precondition(maxNorm >= 0, "clipGradNorm: maxNorm must be >= 0, got \(maxNorm)")
    let withGradients = parameters.filter { $0.grad != nil }
    guard let first = withGradients.first?.grad else { return Tensor.scalar(0) }
    return noGrad {
        // Per-tensor partial results, reduced once more across tensors (no host round trips).
        let partials = withGradients.map { parameter -> Tensor in
            let g = parameter.grad!.cast(to: first.dtype)
            switch normType {
            case .infinity: return g.abs().max()
            case 2: return (g * g).sum()
            case 1: return g.abs().sum()
            default: return pow(g.abs(), normType).sum()
            }
        }
        let stacked = Tensor.stack(partials)
        let total: Tensor
        switch normType {
        case .infinity: total = stacked.max()
        case 2: total = stacked.sum().sqrt()
        case 1: total = stacked.sum()
        default: total = pow(stacked.sum(), 1 / normType)
        }
        // The 1e-6 keeps a zero norm finite; the factor never exceeds 1, as in PyTorch.
        let scale = (maxNorm / (total + 1e-6)).clamp(max: 1)
        for parameter in withGradients {
            let g = parameter.grad!
            parameter.grad = g * scale.cast(to: g.dtype)
        }
        return total
    }
}

/// Clamps every gradient element of `parameters` to [-clipValue, clipValue]:
/// torch.nn.utils.clip_grad_value_.
public func clipGradValue(_ parameters: [Tensor], clipValue: Double) {
    precondition(clipValue >= 0, "clipGradValue: clipValue must be >= 0, got \(clipValue)")
    noGrad {
        for parameter in parameters {
            parameter.grad = parameter.grad?.clamp(min: -clipValue, max: clipValue)
        }
    }
}
