extension Tensor {
    /// Overwrites this tensor's elements in place with `values` (broadcast to this shape,
    /// converted to this dtype), as optimizers update parameters. Not recorded by autograd:
    /// views of the same storage see the new values.
    ///
    /// Inside a traced function (`compile`, `vmap`, `jvp`) the assignment is recorded and
    /// made after each call, and later reads of this tensor in the function see the new
    /// values (as torch.compile's functionalization does for a batch norm's running statistics).
    public func assign(_ values: Tensor) {
        if ShapeMath.broadcast(values.shape, shape) != shape {
            fatalError("assign: values of shape \(values.shape) cannot be broadcast to \(shape)")
        }
        let source = noGrad { values.cast(to: dtype).expanded(to: shape) }
        if let tracer = Tracer.current {
            tracer.recordUpdate(self, source)
            return
        }
        if isAbstract || values.isAbstract {
            fatalError("assign: a traced tensor was used outside of its trace; return it from the traced function instead")
        }
        backend.copy(source, into: self)
    }
}
