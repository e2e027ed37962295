import Foundation

/// The pieces of a progress line, formatted as Keras formats them.
enum ProgressFormat {
    /// Whole seconds as `7s`, `1:05` or `2:03:04`.
    static func duration(_ seconds: Double) -> String {
        let total = seconds.isFinite ? Int(max(0, seconds).rounded()) : 0
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        if total < 60 { return "\(total)s" }
        if total < 3600 { return String(format: "%d:%02d", minutes, secs) }
        return String(format: "%d:%02d:%02d", hours, minutes, secs)
    }

    /// Throughput with digits that stay meaningful: `5210 samples/s`, `42.5 samples/s`, `0.75 samples/s`.
    static func rate(_ samplesPerSecond: Double) -> String {
        let magnitude = abs(samplesPerSecond)
        let format = magnitude >= 100 ? "%.0f" : magnitude >= 10 ? "%.1f" : "%.2f"
        return String(format: format, samplesPerSecond) + " samples/s"
    }

    /// A metric with four decimals; below 1e-3 in scientific notation so it does not read as 0.0000.
    static func value(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        let magnitude = abs(value)
        return String(format: magnitude != 0 && magnitude < 1e-3 ? "%.4e" : "%.4f", value)
    }

    /// `[=======>......]`: `=` for the steps done, `>` at the head while unfinished, `.` after.
    static func bar(step: Int, total: Int, width: Int) -> String {
        let fraction = total > 0 ? min(1, max(0, Double(step) / Double(total))) : 1
        let done = Int(Double(width) * fraction)
        var bar = "["
        if done > 0 {
            bar += String(repeating: "=", count: done - 1) + (step < total ? ">" : "=")
        }
        bar += String(repeating: ".", count: width - done) + "]"
        return bar
    }

    /// ` - loss: 0.4321 - accuracy: 0.8812`.
    static func values(_ values: [(String, Double)]) -> String {
        values.map { " - \($0.0): \(value($0.1))" }.joined()
    }
}
