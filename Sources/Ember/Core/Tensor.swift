import CEmberSupport

/// An n-dimensional array: a view (shape, strides, offset, all in elements) over shared storage.
///
/// Operations never modify a tensor's values in place except where documented (`grad`
/// accumulation, optimizers' updates); views created by movement operations share storage.
public final class Tensor {
    public let storage: Storage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int
    public let dtype: DType

    // Autograd state (see Autograd/).
    /// The operation that produced this tensor, when it was recorded on the tape.
    var gradFn: Node?
    /// Which output of `gradFn` this tensor is.
    var outputIndex: Int = 0
    /// The gradient accumulated by `backward()` for leaves that require gradients.
    public var grad: Tensor?
    var leafFlagRequiresGrad = false
    var accumulatorNode: Node?

    public init(storage: Storage, shape: [Int], strides: [Int], offset: Int, dtype: DType) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
    }

    /// A fresh contiguous tensor of uninitialized memory on `backend`.
    public convenience init(uninitializedShape shape: [Int], dtype: DType, on backend: any Backend = defaultBackend) {
        let storage = backend.allocate(byteCount: ShapeMath.count(shape) * dtype.byteSize)
        self.init(storage: storage, shape: shape, strides: ShapeMath.contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    public var rank: Int { shape.count }
    public var count: Int { ShapeMath.count(shape) }
    public var backend: any Backend { storage.backend }

    /// True when the elements are laid out densely in row-major order (size-1 axes may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        var i = shape.count - 1
        while i >= 0 {
            if shape[i] != 1 {
                if strides[i] != expected { return false }
                expected &*= shape[i]
            }
            i -= 1
        }
        return true
    }

    /// Pointer to the first element, for backends and kernels that address host memory.
    @inlinable
    public var baseAddress: UnsafeMutableRawPointer { storage.pointer + offset * dtype.byteSize }

    /// A tensor placeholder recorded by a tracer: it has a shape and dtype but no values.
    public var isAbstract: Bool { storage === abstractStorage }

    func sameLayout(storage: Storage? = nil, shape: [Int]? = nil, strides: [Int]? = nil, offset: Int? = nil) -> Tensor {
        Tensor(storage: storage ?? self.storage, shape: shape ?? self.shape, strides: strides ?? self.strides,
               offset: offset ?? self.offset, dtype: dtype)
    }
}

/// The backend new tensors are created on unless another is named.
public nonisolated(unsafe) var defaultBackend: any Backend = CPUBackend.shared

/// Shared zero-byte storage of every abstract (traced) tensor.
let abstractStorage = Storage(pointer: UnsafeMutableRawPointer(bitPattern: 64)!, byteCount: 0,
                              backend: CPUBackend.shared, deallocate: nil)
