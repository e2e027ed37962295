import CEmberSupport
import Foundation

/// Splits work across the cores for large tensors; small work runs inline, since waking
/// threads costs more than a few thousand elements of arithmetic.
enum Parallel {
    /// Threads for Swift kernels: EMBER_NUM_THREADS when set, else the online cores.
    static let coreCount: Int = {
        if let value = ProcessInfo.processInfo.environment["EMBER_NUM_THREADS"], let n = Int(value), n > 0 { return n }
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }()

    /// Elements below which a kernel stays on the calling thread.
    static let grain = 32_768

    private struct Job {
        let count: Int
        let chunks: Int
        let body: (Range<Int>) -> Void
    }

    /// Calls `body` on disjoint subranges covering 0..<count, in parallel when `count * cost`
    /// is large. `cost` is the relative work per item (1 for one element of arithmetic).
    @inline(__always)
    static func forRange(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(coreCount, max(1, (count * cost) / grain), count)
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = Job(count: count, chunks: chunks, body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                ember_parallel_for(chunks, { context, chunk in
                    let job = context!.assumingMemoryBound(to: Job.self).pointee
                    let start = job.count * chunk / job.chunks
                    let end = job.count * (chunk + 1) / job.chunks
                    job.body(start..<end)
                }, pointer)
            }
        }
    }
}
