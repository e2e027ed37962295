import Foundation
import Ember

/// How a model's requests are grouped (TF Serving's and Triton's dynamic batching): a batch
/// runs when it holds `maxBatchSize` examples or its first request has waited
/// `maxQueueDelay`; while one batch computes, the next gathers.
public struct BatchingPolicy: Equatable, Sendable {
    public var maxBatchSize: Int
    public var maxQueueDelay: Duration

    public init(maxBatchSize: Int = 32, maxQueueDelay: Duration = .milliseconds(2)) {
        self.maxBatchSize = maxBatchSize
        self.maxQueueDelay = maxQueueDelay
    }
}

/// Concurrent requests for one model version become one forward on the compute queue. A
/// request's examples stay together; a request larger than the batch runs alone, in
/// forwards of at most `maxBatchSize` examples.
actor DynamicBatcher {
    /// What one forward did, for metrics.
    struct BatchReport: Sendable {
        let examples: Int
        let queueTimes: [Duration]
        let computeTime: Duration
    }

    private struct Pending {
        let id: UInt64
        let examples: [PreparedExample]
        let enqueued: ContinuousClock.Instant
        let continuation: CheckedContinuation<[ExampleOutput], any Error>
    }

    private let model: any Servable
    private let policy: BatchingPolicy
    private let report: @Sendable (BatchReport) -> Void
    private var queue: [Pending] = []
    private var nextID: UInt64 = 0
    private var running = false
    private var timer: Task<Void, Never>?

    init(model: any Servable, policy: BatchingPolicy, report: @escaping @Sendable (BatchReport) -> Void = { _ in }) {
        self.model = model
        self.policy = policy
        self.report = report
    }

    /// The outputs of `examples`, in order. A cancelled request still waiting leaves the
    /// queue with `CancellationError`; one already computing finishes first.
    func submit(_ examples: [PreparedExample]) async throws -> [ExampleOutput] {
        guard !examples.isEmpty else { return [] }
        nextID += 1
        let id = nextID
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.append(Pending(id: id, examples: examples, enqueued: .now, continuation: continuation))
                schedule()
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: UInt64) {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return }
        queue.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    private var queuedExamples: Int { queue.reduce(0) { $0 + $1.examples.count } }

    /// Starts a batch when one is due, else sets the timer for the oldest request's delay.
    private func schedule() {
        guard !running, let first = queue.first else { return }
        let due = first.enqueued + policy.maxQueueDelay
        if queuedExamples >= policy.maxBatchSize || ContinuousClock.now >= due {
            startBatch()
        } else if timer == nil {
            timer = Task {
                try? await Task.sleep(until: due, clock: .continuous)
                self.timerFired()
            }
        }
    }

    private func timerFired() {
        timer = nil
        schedule()
    }

    private func startBatch() {
        timer?.cancel()
        timer = nil
        // Whole requests, oldest first, up to the batch size (at least one request).
        var count = 0, taken = 0
        while taken < queue.count, taken == 0 || count + queue[taken].examples.count <= policy.maxBatchSize {
            count += queue[taken].examples.count
            taken += 1
        }
        let batch = Array(queue.prefix(taken))
        queue.removeFirst(taken)
        running = true
        let model = self.model, size = policy.maxBatchSize, report = self.report
        Task {
            let started = ContinuousClock.now
            let examples = batch.flatMap(\.examples)
            var results: [Result<[ExampleOutput], any Error>] = []
            switch await Self.run(model, examples, size: size) {
            case .success(let outputs):
                var offset = 0
                for pending in batch {
                    results.append(.success(Array(outputs[offset..<offset + pending.examples.count])))
                    offset += pending.examples.count
                }
            case .failure(let error) where batch.count == 1: results = [.failure(error)]
            case .failure:
                // One request's examples (a shape the model refuses) fail only that request.
                for pending in batch { results.append(await Self.run(model, pending.examples, size: size)) }
            }
            report(BatchReport(examples: examples.count, queueTimes: batch.map { started - $0.enqueued },
                               computeTime: ContinuousClock.now - started))
            self.finish(batch, results)
        }
    }

    /// `examples` through the model on the compute queue, in forwards of at most `size`.
    private static func run(_ model: any Servable, _ examples: [PreparedExample], size: Int) async -> Result<[ExampleOutput], any Error> {
        await Result {
            try await ComputeQueue.run {
                // What an Ember operation refuses fails this batch, not the process.
                do {
                    return try catchingOperationErrors {
                        try stride(from: 0, to: examples.count, by: size).flatMap { start in
                            try model.forward(Array(examples[start..<min(start + size, examples.count)]))
                        }
                    }
                } catch let error as OperationError {
                    throw RequestError(.internalServerError, "the model failed on this input: \(error.message)")
                }
            }
        }
    }

    private func finish(_ batch: [Pending], _ results: [Result<[ExampleOutput], any Error>]) {
        for (pending, result) in zip(batch, results) { pending.continuation.resume(with: result) }
        running = false
        schedule()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
