/// In-place updates for optimizers: the few arithmetic patterns every optimizer repeats for
/// every parameter at every step, each done in one pass over memory without temporaries.
/// They write into existing storage and are not recorded by autograd; the target must not
/// be part of a graph that is still to be differentiated.
public enum InPlaceUpdate: Hashable, Sendable {
    /// `t = scale·t + alpha·x`
    case scaleAndAdd(scale: Double, alpha: Double)
    /// `t = scale·t + alpha·x·y`
    case scaleAndAddProduct(scale: Double, alpha: Double)
    /// `t = t + alpha·x / (√y·denominatorScale + epsilon)`: Adam's, RMSprop's and Adagrad's
    /// step, with bias corrections folded into `alpha` and `denominatorScale`.
    case addRatioToSquareRoot(alpha: Double, denominatorScale: Double, epsilon: Double)

    var operandCount: Int {
        switch self {
        case .scaleAndAdd: return 1
        case .scaleAndAddProduct, .addRatioToSquareRoot: return 2
        }
    }

    /// The update with tensor operations: for dtypes and layouts the backend's fused loop
    /// does not take.
    func reference(_ t: Tensor, _ operands: [Tensor]) -> Tensor {
        switch self {
        case .scaleAndAdd(let scale, let alpha): return t * scale + operands[0] * alpha
        case .scaleAndAddProduct(let scale, let alpha): return t * scale + operands[0] * operands[1] * alpha
        case .addRatioToSquareRoot(let alpha, let denominatorScale, let epsilon):
            return t + operands[0] * alpha / (operands[1].sqrt() * denominatorScale + epsilon)
        }
    }
}

extension Tensor {
    /// Applies `update` to this tensor in place; `operands` have this tensor's shape.
    public func update(_ update: InPlaceUpdate, _ operands: Tensor...) {
        precondition(operands.count == update.operandCount, "update(\(update)): expected \(update.operandCount) operands, got \(operands.count)")
        precondition(operands.allSatisfy { $0.shape == shape },
                     "update(\(update)): operands must have the target's shape \(shape), got \(operands.map(\.shape))")
        precondition(!(requiresGrad && isGradEnabled), "update: in-place update of a tensor that requires grad; wrap it in noGrad { }")
        // Traced (a compiled optimizer step): recorded as an assignment of the formula.
        if Tracer.current != nil || isAbstract || operands.contains(where: \.isAbstract) {
            assign(noGrad { update.reference(self, operands) })
            return
        }
        let fused = isContiguous && (dtype == .float32 || dtype == .float64)
            && operands.allSatisfy { $0.dtype == dtype && $0.storage.backend === backend }
        let dense = noGrad { operands.map { $0.contiguous() } }
        if fused && backend.update(self, update, dense) {
            return
        }
        assign(noGrad { update.reference(self, operands) })
    }
}
