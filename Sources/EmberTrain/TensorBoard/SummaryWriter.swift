import Ember
import EmberIO
import Foundation
import Synchronization

/// Numbers the files one process opens, so two writers started within the same second
/// never pick the same name.
private let eventFileCounter = Atomic<Int>(0)

/// Writes TensorBoard event files (like `torch.utils.tensorboard.SummaryWriter`): scalars,
/// histograms and text, readable by `tensorboard --logdir`. Records are buffered in memory
/// and reach the file on `flush()`, on `close()`, when the buffer grows past 1 MiB, and every
/// `flushInterval` seconds so a running TensorBoard sees progress. Safe to use from several threads.
public final class SummaryWriter: @unchecked Sendable {
    public let logDirectory: URL
    /// `events.out.tfevents.<unix seconds>.<hostname>.<pid>.<counter>` inside `logDirectory`.
    public let fileURL: URL

    private static let bufferLimit = 1 << 20

    private let lock = NSLock()
    private var descriptor: Int32
    private var pending: [UInt8] = []
    /// An error met by the periodic flush, which has no caller: the next call reports it.
    private var deferredError: FileError?
    private var timer: DispatchSourceTimer?

    /// Creates `logDirectory` (and its parents) and a new event file in it, starting with the
    /// file-version record TensorBoard expects first. With `purgeStep` (PyTorch's name), a
    /// run that restarts from a checkpoint: TensorBoard hides what earlier files logged at
    /// that step or later, so each step shows once.
    public init(logDirectory: URL, purgeStep: Int? = nil, flushInterval: Double = 2) throws {
        precondition(flushInterval > 0, "SummaryWriter: flushInterval must be positive, got \(flushInterval)")
        self.logDirectory = logDirectory
        do {
            try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        } catch {
            throw FileError(.tensorBoard, path: logDirectory.path, problem: "cannot create the log directory: \(FileError.systemReason(error))")
        }
        let seconds = Int(Date().timeIntervalSince1970)
        let counter = eventFileCounter.wrappingAdd(1, ordering: .relaxed).oldValue
        // The counter zero-padded: TensorBoard reads a directory's files in name order, and
        // two writers started in the same second must keep their order (".9" sorts after ".10").
        let name = "events.out.tfevents.\(seconds).\(ProcessInfo.processInfo.hostName).\(getpid())."
            + String(format: "%06d", counter)
        fileURL = logDirectory.appendingPathComponent(name)
        descriptor = open(fileURL.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FileError(.tensorBoard, path: fileURL.path, problem: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        try append(Event(wallTime: Date().timeIntervalSince1970, step: 0, payload: .fileVersion("brain.Event:2")))
        if let purgeStep { try append(Event(wallTime: Date().timeIntervalSince1970, step: Int64(purgeStep), payload: .sessionStart)) }
        try flush()

        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + flushInterval, repeating: flushInterval)
        timer.setEventHandler { [weak self] in self?.periodicFlush() }
        timer.resume()
        self.timer = timer
    }

    deinit {
        try? close()
    }

    /// A scalar under `tag` at `step` (stored as a 32-bit float, as TensorBoard does).
    public func addScalar(_ tag: String, _ value: Double, step: Int, wallTime: Double? = nil) throws {
        try addSummary(SummaryValue(tag: tag, content: .scalar(Float(value))), step: step, wallTime: wallTime)
    }

    /// A histogram of `values` over TensorBoard's default exponential buckets; NaN and
    /// infinite values are left out.
    public func addHistogram(_ tag: String, _ values: [Double], step: Int, wallTime: Double? = nil) throws {
        try addSummary(SummaryValue(tag: tag, content: .histogram(Histogram(values))), step: step, wallTime: wallTime)
    }

    /// A histogram of all the tensor's elements (a weight, a gradient, an activation).
    public func addHistogram(_ tag: String, _ tensor: Tensor, step: Int, wallTime: Double? = nil) throws {
        try addHistogram(tag, tensor.scalars(as: Double.self), step: step, wallTime: wallTime)
    }

    /// Text (Markdown) for TensorBoard's Text dashboard.
    public func addText(_ tag: String, _ text: String, step: Int, wallTime: Double? = nil) throws {
        try addSummary(SummaryValue(tag: tag, content: .text(text)), step: step, wallTime: wallTime)
    }

    /// Writes everything buffered to the file.
    public func flush() throws {
        lock.lock()
        defer { lock.unlock() }
        try reportDeferredError()
        try writePending()
    }

    /// Flushes and closes the file; later additions throw. Closing twice does nothing.
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        timer?.cancel()
        timer = nil
        guard descriptor >= 0 else { return }
        defer {
            Foundation.close(descriptor)
            descriptor = -1
        }
        try reportDeferredError()
        try writePending()
    }

    private func addSummary(_ value: SummaryValue, step: Int, wallTime: Double?) throws {
        try append(Event(wallTime: wallTime ?? Date().timeIntervalSince1970, step: Int64(step), payload: .summary([value])))
    }

    private func append(_ event: Event) throws {
        let record = TFRecord.frame(event.encoded)
        lock.lock()
        defer { lock.unlock() }
        try reportDeferredError()
        guard descriptor >= 0 else { throw FileError(.tensorBoard, path: fileURL.path, problem: "the writer is closed") }
        pending += record
        if pending.count >= SummaryWriter.bufferLimit { try writePending() }
    }

    private func periodicFlush() {
        lock.lock()
        defer { lock.unlock() }
        guard deferredError == nil else { return }
        do {
            try writePending()
        } catch {
            deferredError = error
        }
    }

    private func reportDeferredError() throws {
        if let error = deferredError {
            deferredError = nil
            throw error
        }
    }

    /// Called with the lock held. After a failed write only the bytes not yet written stay
    /// buffered, so a retry never duplicates a record.
    private func writePending() throws(FileError) {
        guard descriptor >= 0, !pending.isEmpty else { return }
        var written = 0
        defer { pending.removeFirst(written) }
        let failure: Int32? = pending.withUnsafeBytes { bytes in
            while written < bytes.count {
                let n = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return errno }
                written += n
            }
            return nil
        }
        if let code = failure {
            throw FileError(.tensorBoard, path: fileURL.path, problem: "cannot write: \(String(cString: strerror(code)))")
        }
    }
}
