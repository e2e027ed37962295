import Foundation

/// Background threads that apply `work` to the elements of an iterator and hand the results
/// back in the iterator's order, at most `depth` results ahead of the consumer. Workers take
/// the next input under a lock (so the input iterator needs no thread safety) and run `work`
/// outside it. Used by the data loader (inputs are batch numbers), parallel `map` and
/// `prefetch` (one worker, identity work).
///
/// Dropping the iterator cancels the workers and waits for them to exit, so no thread
/// outlives the iteration that started it.
final class OrderedWorkers<Input, Output>: IteratorProtocol {
    private let state: State

    init(_ inputs: AnyIterator<Input>, workers: Int, depth: Int, work: @escaping (Input) -> Output) {
        precondition(workers > 0, "OrderedWorkers: needs at least one worker, got \(workers)")
        precondition(depth >= 1, "OrderedWorkers: the prefetch depth must be at least 1, got \(depth)")
        state = State(inputs: inputs, depth: max(depth, workers), work: work)
        for _ in 0..<workers { state.startWorker() }
    }

    deinit { state.cancel() }

    func next() -> Output? { state.next() }

    private final class State: @unchecked Sendable {
        private let condition = NSCondition()
        private var inputs: AnyIterator<Input>
        private let depth: Int
        private let work: (Input) -> Output
        /// Position of the next input a worker takes, and of the next result handed out.
        private var claimed = 0
        private var emitted = 0
        /// The number of inputs, once the input iterator has run out.
        private var end: Int?
        private var results: [Int: Output] = [:]
        private var cancelled = false
        private var running = 0

        init(inputs: AnyIterator<Input>, depth: Int, work: @escaping (Input) -> Output) {
            self.inputs = inputs
            self.depth = depth
            self.work = work
        }

        func startWorker() {
            condition.lock()
            running += 1
            condition.unlock()
            WorkerThreads.started()
            let thread = Thread { [self] in run() }
            thread.name = "EmberData worker"
            thread.start()
        }

        private func run() {
            condition.lock()
            defer {
                running -= 1
                WorkerThreads.finished()
                condition.broadcast()
                condition.unlock()
            }
            while !cancelled && end == nil {
                if claimed - emitted >= depth {
                    condition.wait()
                    continue
                }
                guard let input = inputs.next() else {
                    end = claimed
                    condition.broadcast()
                    return
                }
                let position = claimed
                claimed += 1
                condition.unlock()
                let output = work(input)
                condition.lock()
                results[position] = output
                condition.broadcast()
            }
        }

        func next() -> Output? {
            condition.lock()
            defer { condition.unlock() }
            while true {
                if let output = results.removeValue(forKey: emitted) {
                    emitted += 1
                    condition.broadcast()
                    return output
                }
                if let end, emitted >= end { return nil }
                condition.wait()
            }
        }

        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            while running > 0 { condition.wait() }
            condition.unlock()
        }
    }
}

/// Counts the live worker threads, so tests can check that dropped iterators stop theirs.
enum WorkerThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var count = 0

    static func started() { lock.withLock { count += 1 } }
    static func finished() { lock.withLock { count -= 1 } }

    /// Threads that have not yet returned from their work loop.
    static var running: Int { lock.withLock { count } }
}
