/// Where tensors live and primitives run. Everything above this protocol is
/// device-agnostic: it sees storages and layouts, never host pointers into them.
public protocol Backend: AnyObject, Sendable {
    var name: String { get }

    /// Fresh memory for `byteCount` bytes (contents undefined).
    func allocate(byteCount: Int) -> Storage

    /// Runs a primitive. `outputs` are freshly allocated dense tensors shaped by the
    /// primitive's shape rule; inputs may have any strides (views, broadcasts).
    func execute(_ primitive: Primitive, inputs: [Tensor], outputs: [Tensor])

    /// Runs a primitive whose inputs at positions `fixed` hold the same values on every call
    /// for as long as their storage lives (a compiled function's folded constants): the
    /// backend may keep work derived from them, such as weights converted to a kernel's
    /// layout.
    func execute(_ primitive: Primitive, inputs: [Tensor], outputs: [Tensor], fixed: Set<Int>)

    /// Copies host bytes into a storage, at a byte offset.
    func upload(_ bytes: UnsafeRawBufferPointer, to storage: Storage, at byteOffset: Int)

    /// Copies a dense tensor's bytes to host memory.
    func download(_ tensor: Tensor, into bytes: UnsafeMutableRawBufferPointer)

    /// Copies `source`'s elements into `target` (same shape; any layouts, one dtype).
    func copy(_ source: Tensor, into target: Tensor)

    /// Sets every element of a dense tensor to `value`.
    func fill(_ tensor: Tensor, with value: Double)

    /// Applies an optimizer's in-place update to a dense float tensor from dense operands of
    /// its shape and dtype, in one pass; returns false where the backend has no fused loop
    /// (the caller then composes it from primitives).
    func update(_ target: Tensor, _ update: InPlaceUpdate, _ operands: [Tensor]) -> Bool

    /// Runs `body`, whose primitives do not write the tensors they read (a convolution's two
    /// gradients from one output gradient): the backend may keep work derived from an input
    /// of one of them, such as its conversion to a kernel's layout, for the others.
    func sharingInputWork<T>(_ body: () -> T) -> T
}

extension Backend {
    /// A backend that keeps nothing runs such a primitive like any other.
    public func execute(_ primitive: Primitive, inputs: [Tensor], outputs: [Tensor], fixed: Set<Int>) {
        execute(primitive, inputs: inputs, outputs: outputs)
    }

    /// A backend that keeps nothing just runs the body.
    public func sharingInputWork<T>(_ body: () -> T) -> T { body() }
}
