import Foundation

/// The epoch number a sequence's next iteration runs, shared by copies.
final class EpochCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    var value: Int {
        get { lock.withLock { next } }
        set { lock.withLock { next = newValue } }
    }

    /// The current epoch, and moves on to the following one.
    func advance() -> Int {
        lock.withLock {
            defer { next += 1 }
            return next
        }
    }
}
