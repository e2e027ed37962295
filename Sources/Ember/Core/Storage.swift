/// A block of memory owned by a backend. Tensors are views over storages; many views may share one.
public final class Storage: @unchecked Sendable {
    /// Address in the backend's memory space (host memory for the CPU backend).
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    public unowned(unsafe) let backend: any Backend
    private let deallocate: ((UnsafeMutableRawPointer) -> Void)?

    public init(pointer: UnsafeMutableRawPointer, byteCount: Int, backend: any Backend,
                deallocate: ((UnsafeMutableRawPointer) -> Void)?) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.backend = backend
        self.deallocate = deallocate
    }

    deinit { deallocate?(pointer) }
}
