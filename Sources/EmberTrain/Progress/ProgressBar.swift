import Foundation

/// A Keras-style progress line for one epoch:
/// `12/40 [=======>......................] - ETA: 3s - loss: 0.4321 - accuracy: 0.8812 - 5210 samples/s`.
/// On a terminal the line is redrawn in place with `\r`, at most ten times a second. Elsewhere
/// (a log file, CI) there are no carriage returns or escape codes: one plain line at the end of
/// the epoch, and optionally one each time another `plainEveryPercent` of the steps is done
/// and one whenever `plainEverySeconds` have passed since the last line.
/// Used from one thread, the training loop's.
public final class ProgressBar {
    public let total: Int?
    public let width: Int
    public let isTerminal: Bool
    public let plainEveryPercent: Int?
    public let plainEverySeconds: Double?

    private let output: (String) -> Void
    private let clock: () -> Double
    private let start: Double
    private var lastStep = 0
    private var lastDraw: Double?
    /// Characters of the line on screen, so a shorter redraw can blank the rest with spaces.
    private var drawnWidth = 0
    private var nextPlainPercent: Int
    private var lastPlainLine: Double

    private static let redrawInterval = 0.1

    /// `output` receives every piece of text as it is produced (standard output by default);
    /// `clock` gives monotonic seconds (for tests that need fixed timings).
    public init(
        total: Int?,
        width: Int = 30,
        isTerminal: Bool = isatty(STDOUT_FILENO) != 0,
        plainEveryPercent: Int? = nil,
        plainEverySeconds: Double? = nil,
        output: @escaping (String) -> Void = ProgressBar.writeToStandardOutput,
        clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }
    ) {
        precondition(total.map { $0 >= 0 } ?? true, "ProgressBar: total must not be negative, got \(total!)")
        precondition(width > 0, "ProgressBar: width must be positive, got \(width)")
        precondition(plainEveryPercent.map { 1...100 ~= $0 } ?? true, "ProgressBar: plainEveryPercent must be in 1...100")
        precondition(plainEverySeconds.map { $0 > 0 } ?? true, "ProgressBar: plainEverySeconds must be positive")
        self.total = total
        self.width = width
        self.isTerminal = isTerminal
        self.plainEveryPercent = plainEveryPercent
        self.plainEverySeconds = plainEverySeconds
        self.output = output
        self.clock = clock
        start = clock()
        nextPlainPercent = plainEveryPercent ?? 0
        lastPlainLine = start
    }

    public static func writeToStandardOutput(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }

    /// Reports that `step` steps of the epoch are done.
    public func update(step: Int, values: [(String, Double)] = [], samplesPerSecond: Double? = nil) {
        lastStep = step
        let now = clock()
        if isTerminal {
            if let last = lastDraw, now - last < ProgressBar.redrawInterval, step != total { return }
            lastDraw = now
            redraw(line(step: step, values: values, samplesPerSecond: samplesPerSecond, elapsed: now - start, finished: false))
        } else if step < total ?? .max {
            var due = plainEverySeconds.map { now - lastPlainLine >= $0 } ?? false
            if let every = plainEveryPercent, let total, total > 0 {
                let percent = step * 100 / total
                if percent >= nextPlainPercent {
                    nextPlainPercent = (percent / every + 1) * every
                    due = true
                }
            }
            guard due else { return }
            lastPlainLine = now
            output(line(step: step, values: values, samplesPerSecond: samplesPerSecond, elapsed: now - start, finished: false) + "\n")
        }
    }

    /// Ends the epoch's line with the final values and the time the epoch took.
    public func finish(values: [(String, Double)] = [], samplesPerSecond: Double? = nil) {
        let step = total ?? lastStep
        let text = line(step: step, values: values, samplesPerSecond: samplesPerSecond, elapsed: clock() - start, finished: true)
        if isTerminal {
            redraw(text)
            output("\n")
            drawnWidth = 0
        } else {
            output(text + "\n")
        }
    }

    private func redraw(_ text: String) {
        let padding = String(repeating: " ", count: max(0, drawnWidth - text.count))
        output("\r" + text + padding)
        drawnWidth = text.count
    }

    /// The line for `step`: a bar and ETA while running, the elapsed time when finished or when
    /// the number of steps is unknown.
    private func line(step: Int, values: [(String, Double)], samplesPerSecond: Double?, elapsed: Double, finished: Bool) -> String {
        var text: String
        if let total {
            let digits = String(total).count
            text = String(repeating: " ", count: max(0, digits - String(step).count)) + "\(step)/\(total) "
                + ProgressFormat.bar(step: step, total: total, width: width)
            if finished || step >= total {
                text += " - " + ProgressFormat.duration(elapsed)
            } else if step > 0 {
                text += " - ETA: " + ProgressFormat.duration(elapsed / Double(step) * Double(total - step))
            }
        } else {
            text = "\(step)/Unknown - " + ProgressFormat.duration(elapsed)
        }
        text += ProgressFormat.values(values)
        if let samplesPerSecond { text += " - " + ProgressFormat.rate(samplesPerSecond) }
        return text
    }
}
