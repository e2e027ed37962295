/// Matrix products, batched and broadcast over leading axes.
enum LinearAlgebra {
    static func matmulSpec(_ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let a = inputs[0], b = inputs[1]
        try Elementwise.sameDType("matmul", a, b)
        if !a.dtype.isFloatingPoint { throw ShapeError("matmul", "expected floating-point operands, got \(a.dtype)") }
        if a.shape.count < 2 || b.shape.count < 2 {
            throw ShapeError("matmul", "operands must have rank 2 or more, got \(a.shape) and \(b.shape)")
        }
        let k = a.shape[a.shape.count - 1]
        if b.shape[b.shape.count - 2] != k {
            throw ShapeError("matmul", "inner dimensions differ: \(a.shape) @ \(b.shape) (\(k) vs \(b.shape[b.shape.count - 2]))")
        }
        guard let batch = ShapeMath.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
            throw ShapeError("matmul", "batch shapes of \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        return TensorSpec(batch + [a.shape[a.shape.count - 2], b.shape[b.shape.count - 1]], a.dtype)
    }

    /// Each gradient is computed in its operand's layout: for an operand that is a
    /// transposed view (a Linear layer's `weight.transposed()`), as the transpose of the
    /// transposed product, so that the gradient reaching the parameter is dense rather than
    /// a view that every later pass (accumulation, the optimizer) would have to gather.
    static func matmulVJP(_ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] {
        let a = inputs[0], b = inputs[1]
        var gradA: Tensor?, gradB: Tensor?
        if needed[0] {
            gradA = (isTransposedLayout(a) ? matmul(b, g.transposed()).transposed() : matmul(g, b.transposed()))
                .sum(toShape: a.shape)
        }
        if needed[1] {
            if b.rank == 2 && a.rank > 2 {
                // [batch..., m, k] @ [k, n]: fold the batch into rows rather than reduce over it.
                let rowsA = a.reshaped(to: [-1, a.shape[a.rank - 1]]), rowsG = g.reshaped(to: [-1, g.shape[g.rank - 1]])
                gradB = isTransposedLayout(b) ? matmul(rowsG.transposed(), rowsA).transposed() : matmul(rowsA.transposed(), rowsG)
            } else {
                gradB = (isTransposedLayout(b) ? matmul(g.transposed(), a).transposed() : matmul(a.transposed(), g))
                    .sum(toShape: b.shape)
            }
        }
        return [gradA, gradB]
    }

    /// Whether the last two axes are stored column-major (a transposed view of a dense matrix).
    static func isTransposedLayout(_ x: Tensor) -> Bool {
        x.rank >= 2 && x.shape[x.rank - 1] > 1 && x.shape[x.rank - 2] > 1
            && x.strides[x.rank - 2] == 1 && x.strides[x.rank - 1] != 1
    }
}

/// The matrix product with NumPy's rules: 1-D operands are promoted to a row (left) or a
/// column (right) and the added axis removed; leading axes broadcast. Under `autocast`,
/// float32 operands are multiplied in the region's type.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    let left = a.rank == 1 ? a.unsqueezed(axis: 0) : a
    let right = b.rank == 1 ? b.unsqueezed(axis: 1) : b
    let t = Autocast.computeType(DType.promoted(left.dtype, right.dtype))
    var result = Dispatch.run1(.matmul, [Autocast.cast(left, to: t), Autocast.cast(right, to: t)])
    if b.rank == 1 { result = result.squeezed(axis: -1) }
    if a.rank == 1 { result = result.squeezed(axis: a.rank == 1 && b.rank == 1 ? 0 : -2) }
    return result
}

extension Tensor {
    public func matmul(_ other: Tensor) -> Tensor { Ember.matmul(self, other) }
}
