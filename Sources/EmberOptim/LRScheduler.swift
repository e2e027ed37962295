/// A learning rate as a function of the number of scheduler steps taken (PyTorch's
/// `last_epoch`) and of a group's learning rate when scheduling began.
public protocol LRSchedule: Sendable {
    func learningRate(at step: Int, initial: Double) -> Double
    /// The momentum (or Adam's beta1) to set at `step`, for schedules that cycle it; nil
    /// leaves the optimizer's alone.
    func momentum(at step: Int) -> Double?
    /// The most steps the schedule is defined for (OneCycleLR's `totalSteps`); nil when it
    /// goes on without end.
    var stepLimit: Int? { get }
}

extension LRSchedule {
    public func momentum(at step: Int) -> Double? { nil }
    public var stepLimit: Int? { nil }
}

/// Sets an optimizer's learning rates from a schedule: call `step()` after each
/// `optimizer.step()` (per batch or per epoch, as the schedule is counted), as with
/// torch.optim.lr_scheduler. Creating it sets the rates of step 0.
public final class LRScheduler {
    public let optimizer: any OptimizerProtocol
    public let schedule: any LRSchedule
    /// Each group's learning rate when scheduling began (PyTorch's `base_lrs`).
    public private(set) var baseLRs: [Double]
    /// Steps taken (PyTorch's `last_epoch`).
    public private(set) var lastEpoch = 0
    /// The rates set by the last step (PyTorch's `get_last_lr()`).
    public private(set) var lastLR: [Double] = []

    public init(_ optimizer: any OptimizerProtocol, schedule: any LRSchedule) {
        self.optimizer = optimizer
        self.schedule = schedule
        baseLRs = optimizer.learningRates
        apply()
    }

    public func step() {
        lastEpoch += 1
        apply()
    }

    private func apply() {
        lastLR = baseLRs.map { schedule.learningRate(at: lastEpoch, initial: $0) }
        optimizer.learningRates = lastLR
        if let momentum = schedule.momentum(at: lastEpoch) {
            let momenta = optimizer.momenta
            precondition(!momenta.contains(nil),
                         "LRScheduler: the schedule cycles momentum but \(type(of: optimizer)) has no momentum or beta1; turn momentum cycling off")
            optimizer.momenta = momenta.map { _ in momentum }
        }
    }

    /// What resuming needs; the schedule's own settings come from the code that creates it.
    public struct State: Codable, Equatable, Sendable {
        public var lastEpoch: Int
        public var baseLRs: [Double]

        public init(lastEpoch: Int, baseLRs: [Double]) {
            self.lastEpoch = lastEpoch
            self.baseLRs = baseLRs
        }
    }

    public func stateDict() -> State { State(lastEpoch: lastEpoch, baseLRs: baseLRs) }

    /// Restores the step count and base rates, and sets the rates of that step.
    public func loadStateDict(_ state: State) throws(OptimizerError) {
        guard state.baseLRs.count == baseLRs.count else {
            throw OptimizerError("LRScheduler.loadStateDict: the state has \(state.baseLRs.count) base learning rates, the optimizer \(baseLRs.count) parameter groups")
        }
        guard state.lastEpoch >= 0 else {
            throw OptimizerError("LRScheduler.loadStateDict: negative step count \(state.lastEpoch)")
        }
        if let limit = schedule.stepLimit, state.lastEpoch > limit {
            throw OptimizerError("LRScheduler.loadStateDict: the state has taken \(state.lastEpoch) steps, more than the \(limit) the schedule has")
        }
        lastEpoch = state.lastEpoch
        baseLRs = state.baseLRs
        apply()
    }
}
