import Foundation

/// Round tick values (1, 2 or 5 times a power of ten apart) spanning a data range, after
/// Heckbert's "nice numbers for graph labels" (Graphics Gems, 1990).
struct AxisTicks {
    var lower: Double
    var upper: Double
    var step: Double
    var values: [Double]

    /// About `count` ticks from a multiple of the step at or below `minimum` to one at or above
    /// `maximum`. A single value gets a small range around it; `integers` keeps steps >= 1.
    init(minimum: Double, maximum: Double, count: Int = 5, integers: Bool = false) {
        precondition(minimum.isFinite && maximum.isFinite && minimum <= maximum, "AxisTicks: invalid range \(minimum)...\(maximum)")
        var (low, high) = (minimum, maximum)
        if low == high {
            let spread = integers ? 1 : (low == 0 ? 1 : abs(low) * 0.1)
            (low, high) = (low - spread, high + spread)
        }
        var step = AxisTicks.niceNumber((high - low) / Double(max(1, count - 1)))
        if integers { step = max(1, step.rounded()) }
        // The tolerance keeps 0.9 / 0.1 = 9.000000000000002 from adding a tick past the data.
        let first = (low / step + 1e-9).rounded(.down), last = (high / step - 1e-9).rounded(.up)
        self.step = step
        // Multiplying an integer index (rather than adding steps) keeps 0.30000000000000004 out.
        values = stride(from: first, through: last, by: 1).map { $0 * step }
        lower = values.first!
        upper = values.last!
    }

    /// The 1, 2, 5 or 10 times a power of ten nearest to `x`.
    static func niceNumber(_ x: Double) -> Double {
        let exponent = (log10(x)).rounded(.down)
        let power = pow(10, exponent)
        let fraction = x / power
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return nice * power
    }

    /// A tick label with as many decimals as the step needs: 0.2 -> "0.4", 5 -> "10".
    func label(_ value: Double) -> String {
        let decimals = max(0, -Int(log10(step).rounded(.down)))
        let text = String(format: "%.\(decimals)f", value)
        return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
    }
}
