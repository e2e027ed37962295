import Ember

/// A running, optionally weighted mean: Σ w v / Σ w over every value since the last reset
/// (a training loop's average loss, for one).
public final class Mean: ResumableMetric {
    public let name: String
    private var weightedSum = 0.0
    private var totalWeight = 0.0

    public init(name: String = "mean") { self.name = name }

    /// Adds every element of `values`, weighted by `weights` (broadcast to the values'
    /// shape; each weight 1 when nil).
    public func update(_ values: Tensor, weights: Tensor? = nil) {
        validate { () throws(ShapeError) in
            try checkFloatingPoint("Mean.update", "values", values)
            try checkBroadcastWeight("Mean.update", "weights", weights, to: values.shape)
        }
        noGrad {
            let v = values.cast(to: .float64)
            guard let weights else {
                weightedSum += v.sum().item()
                totalWeight += Double(v.count)
                return
            }
            let w = weights.cast(to: .float64).expanded(to: v.shape)
            weightedSum += (v * w).sum().item()
            totalWeight += w.sum().item()
        }
    }

    public func update(_ value: Double, weight: Double = 1) {
        weightedSum += value * weight
        totalWeight += weight
    }

    public var result: Double { weightedSum / totalWeight }

    public func reset() {
        weightedSum = 0
        totalWeight = 0
    }

    public var accumulators: [Double] { [weightedSum, totalWeight] }

    public func restore(accumulators: [Double]) throws {
        guard accumulators.count == 2 else {
            throw MetricStateError("\(name): expected [weighted sum, total weight], got \(accumulators)")
        }
        (weightedSum, totalWeight) = (accumulators[0], accumulators[1])
    }
}
