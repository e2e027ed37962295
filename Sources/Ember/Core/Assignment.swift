extension Tensor {
    /// Overwrites this tensor's elements in place with `values` (broadcast to this shape,
    /// converted to this dtype), as optimizers update parameters. Not recorded by autograd:
    /// views of the same storage see the new values.
    public func assign(_ values: Tensor) {
        precondition(!isAbstract && !values.isAbstract, "assign: traced tensors have no storage to write")
        precondition(ShapeMath.broadcast(values.shape, shape) == shape,
                     "assign: values of shape \(values.shape) cannot be broadcast to \(shape)")
        let source = noGrad { values.cast(to: dtype).expanded(to: shape) }
        backend.copy(source, into: self)
    }
}
