/// Multiplies the learning rates by `factor` when a metric has stopped improving for more
/// than `patience` steps: torch.optim.lr_scheduler.ReduceLROnPlateau.
public final class ReduceLROnPlateau {
    public enum Mode: String, Codable, Sendable {
        /// Lower is better (a loss).
        case min
        /// Higher is better (an accuracy).
        case max
    }

    public enum ThresholdMode: String, Codable, Sendable {
        /// Improving means beating the best by a fraction `threshold` of it.
        case relative = "rel"
        /// Improving means beating the best by `threshold`.
        case absolute = "abs"
    }

    public let optimizer: any OptimizerProtocol
    public let mode: Mode
    public let factor: Double
    public let patience: Int
    public let threshold: Double
    public let thresholdMode: ThresholdMode
    /// Steps to wait after a reduction before counting bad steps again.
    public let cooldown: Int
    /// The floor of each group's rate.
    public var minLRs: [Double]
    /// Reductions smaller than this are skipped.
    public let eps: Double

    /// The best metric so far (nil before the first step).
    public private(set) var best: Double?
    public private(set) var badSteps = 0
    public private(set) var cooldownCounter = 0
    public private(set) var lastEpoch = 0

    public init(_ optimizer: any OptimizerProtocol, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, thresholdMode: ThresholdMode = .relative, cooldown: Int = 0,
                minLR: Double = 0, eps: Double = 1e-8) {
        precondition(factor < 1 && factor >= 0, "ReduceLROnPlateau: factor must be in [0, 1), got \(factor)")
        precondition(patience >= 0 && cooldown >= 0,
                     "ReduceLROnPlateau: patience and cooldown must be >= 0, got \(patience) and \(cooldown)")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minLRs = optimizer.learningRates.map { _ in minLR }
        self.eps = eps
    }

    /// The rates now in force (PyTorch's `get_last_lr()`).
    public var lastLR: [Double] { optimizer.learningRates }

    private func isImprovement(_ value: Double, over best: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .relative): value < best * (1 - threshold)
        case (.min, .absolute): value < best - threshold
        case (.max, .relative): value > best * (1 + threshold)
        case (.max, .absolute): value > best + threshold
        }
    }

    /// Records this step's metric and lowers the rates if it has plateaued.
    public func step(metric: Double) {
        lastEpoch += 1
        if best.map({ isImprovement(metric, over: $0) }) ?? true {
            best = metric
            badSteps = 0
        } else {
            badSteps += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            // Bad steps during the cooldown do not count.
            badSteps = 0
        }
        if badSteps > patience {
            reduce()
            cooldownCounter = cooldown
            badSteps = 0
        }
    }

    private func reduce() {
        var rates = optimizer.learningRates
        precondition(minLRs.count == rates.count,
                     "ReduceLROnPlateau: \(minLRs.count) minimum rates for \(rates.count) parameter groups")
        for i in rates.indices {
            let reduced = Swift.max(rates[i] * factor, minLRs[i])
            if rates[i] - reduced > eps { rates[i] = reduced }
        }
        optimizer.learningRates = rates
    }

    /// What resuming needs; the settings come from the code that creates the scheduler.
    public struct State: Codable, Equatable, Sendable {
        public var best: Double?
        public var badSteps: Int
        public var cooldownCounter: Int
        public var lastEpoch: Int

        public init(best: Double?, badSteps: Int, cooldownCounter: Int, lastEpoch: Int) {
            self.best = best
            self.badSteps = badSteps
            self.cooldownCounter = cooldownCounter
            self.lastEpoch = lastEpoch
        }
    }

    public func stateDict() -> State {
        State(best: best, badSteps: badSteps, cooldownCounter: cooldownCounter, lastEpoch: lastEpoch)
    }

    public func loadStateDict(_ state: State) throws(OptimizerError) {
        guard state.badSteps >= 0, state.cooldownCounter >= 0, state.lastEpoch >= 0 else {
            throw OptimizerError("ReduceLROnPlateau.loadStateDict: negative counters in \(state)")
        }
        best = state.best
        badSteps = state.badSteps
        cooldownCounter = state.cooldownCounter
        lastEpoch = state.lastEpoch
    }
}
