import Synchronization

/// A request that ran past the server's timeout (answered 504).
struct DeadlineExceeded: Error {}

/// `operation`'s result, or `DeadlineExceeded` once `timeout` has passed: the caller is
/// answered at the deadline even when the work cannot stop at once (a forward in progress);
/// the work is cancelled, so a request still queued for a batch leaves the queue.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let work = Mutex<Task<Void, Never>?>(nil), timer = Mutex<Task<Void, Never>?>(nil)
    /// The first of the work and the timer to finish answers; the other is cancelled.
    @Sendable func finish(_ result: Result<T, any Error>) {
        guard let continuation = outcome.withLock({ value -> CheckedContinuation<T, any Error>? in defer { value = nil }; return value }) else { return }
        work.withLock { $0?.cancel() }
        timer.withLock { $0?.cancel() }
        continuation.resume(with: result)
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.withLock { $0 = continuation }
            timer.withLock {
                $0 = Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    finish(.failure(DeadlineExceeded()))
                }
            }
            work.withLock { $0 = Task { finish(await Result { try await operation() }) } }
        }
    } onCancel: {
        finish(.failure(CancellationError()))
    }
}
