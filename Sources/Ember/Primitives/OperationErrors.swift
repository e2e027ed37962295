import CEmberSupport

/// A failure inside an Ember operation, caught by `catchingOperationErrors`: a shape rule
/// refusing its inputs, an index out of range, an integer division by zero.
public struct OperationError: Error, CustomStringConvertible, Sendable {
    /// The operation's own message (operation, what it was given, what it expects).
    public let message: String
    public var description: String { message }
}

/// Runs `body`, turning the failures that would stop the process — an operation's shape
/// rule refusing its inputs, an index read from data out of range, an integer division by
/// zero — into a thrown `OperationError` carrying the first failure's message.
///
/// Outside this function such a failure is a programming error and stops the process, as a
/// failed precondition does. A server runs models on inputs it does not control, and one
/// request must not take the process down: it wraps each forward in this.
///
/// After a failure `body` runs on to its end: the failed operation's results are zeros
/// shaped like its first input and no kernel runs on inputs its checks refused, so memory
/// stays safe, but every value computed after the failure is meaningless, and this function
/// throws instead of returning them. Only failures on the calling thread are caught.
public func catchingOperationErrors<T>(_ body: () throws -> T) throws -> T {
    let trap = OperationErrorTrap()
    let state = ember_thread_state()
    let outer = state.pointee.operationErrors
    state.pointee.operationErrors = Unmanaged.passUnretained(trap).toOpaque()
    defer { state.pointee.operationErrors = outer }
    let result = try withExtendedLifetime(trap) { try body() }
    if let message = trap.firstMessage { throw OperationError(message: message) }
    return result
}

/// The first failure caught so far by the innermost `catchingOperationErrors` on this
/// thread, if any: lets a caller that runs a graph node by node stop at the node that failed.
public func pendingOperationError() -> OperationError? {
    OperationErrorTrap.current?.firstMessage.map { OperationError(message: $0) }
}

/// Where `catchingOperationErrors` collects failures.
final class OperationErrorTrap {
    var firstMessage: String?

    static var current: OperationErrorTrap? {
        ember_thread_state().pointee.operationErrors.map { Unmanaged<OperationErrorTrap>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Reports a failure: recorded when the calling thread is inside `catchingOperationErrors`
    /// (the caller then skips the work it refused), otherwise the process stops with `message`.
    static func report(_ message: @autoclosure () -> String) {
        guard let trap = current else { fatalError(message()) }
        if trap.firstMessage == nil { trap.firstMessage = message() }
    }

    /// Whether a failure has been caught on this thread: what was traced since is not to be kept.
    static var hasCaught: Bool { current?.firstMessage != nil }
}
