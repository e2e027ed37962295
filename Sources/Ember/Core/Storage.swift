import Synchronization

/// The serial number of the last storage made.
private let storageSerials = Atomic<UInt64>(0)

/// A block of memory owned by a backend. Tensors are views over storages; many views may share one.
public final class Storage: @unchecked Sendable {
    /// Address in the backend's memory space (host memory for the CPU backend).
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    public unowned(unsafe) let backend: any Backend
    private let deallocate: ((UnsafeMutableRawPointer) -> Void)?
    /// When the storage was made, in the order storages were made: a tracer tells the
    /// tensors a function captured (made before its trace began) from those it made.
    let serial: UInt64

    public init(pointer: UnsafeMutableRawPointer, byteCount: Int, backend: any Backend,
                deallocate: ((UnsafeMutableRawPointer) -> Void)?) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.backend = backend
        self.deallocate = deallocate
        serial = storageSerials.wrappingAdd(1, ordering: .relaxed).newValue
    }

    deinit { deallocate?(pointer) }

    /// The serial of the last storage made so far.
    static var latestSerial: UInt64 { storageSerials.load(ordering: .relaxed) }
}
