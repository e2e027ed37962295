import Foundation

// Learning-rate schedules in closed form; each gives the values of the torch.optim.lr_scheduler
// class of the same name (whose recursive updates compute the same numbers).

/// Multiplies the rate by `gamma` every `stepSize` steps.
public struct StepLR: LRSchedule {
    public let stepSize: Int
    public let gamma: Double

    public init(stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "StepLR: stepSize must be positive, got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        initial * pow(gamma, Double(step / stepSize))
    }
}

/// Multiplies the rate by `gamma` at each milestone (twice for a milestone listed twice).
public struct MultiStepLR: LRSchedule {
    public let milestones: [Int]
    public let gamma: Double

    public init(milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.sorted()
        self.gamma = gamma
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        initial * pow(gamma, Double(milestones.count { $0 <= step }))
    }
}

/// Multiplies the rate by `gamma` every step.
public struct ExponentialLR: LRSchedule {
    public let gamma: Double

    public init(gamma: Double) { self.gamma = gamma }

    public func learningRate(at step: Int, initial: Double) -> Double {
        initial * pow(gamma, Double(step))
    }
}

/// Half a cosine from the initial rate down to `etaMin` over `tMax` steps, then back up,
/// periodically (SGDR without restarts).
public struct CosineAnnealingLR: LRSchedule {
    public let tMax: Int
    public let etaMin: Double

    public init(tMax: Int, etaMin: Double = 0) {
        precondition(tMax > 0, "CosineAnnealingLR: tMax must be positive, got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        etaMin + (initial - etaMin) * (1 + cos(Double.pi * Double(step) / Double(tMax))) / 2
    }
}

/// Scales the rate linearly from `startFactor` to `endFactor` over `totalIters` steps, then
/// holds it: the usual warm-up, followed by another schedule through SequentialLR.
public struct LinearLR: LRSchedule {
    public let startFactor: Double
    public let endFactor: Double
    public let totalIters: Int

    public init(startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        precondition(startFactor > 0 && startFactor <= 1, "LinearLR: startFactor must be in (0, 1], got \(startFactor)")
        precondition(endFactor >= 0 && endFactor <= 1, "LinearLR: endFactor must be in [0, 1], got \(endFactor)")
        precondition(totalIters > 0, "LinearLR: totalIters must be positive, got \(totalIters)")
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        initial * (startFactor + (endFactor - startFactor) * Double(min(totalIters, step)) / Double(totalIters))
    }
}

/// Runs `schedules[i]` from milestone i - 1 on, each counting its steps from its start
/// and from the group's initial rate: `SequentialLR([LinearLR(...), CosineAnnealingLR(...)],
/// milestones: [warmUpSteps])` is warm-up followed by cosine annealing.
public struct SequentialLR: LRSchedule {
    public let schedules: [any LRSchedule]
    public let milestones: [Int]

    public init(_ schedules: [any LRSchedule], milestones: [Int]) {
        precondition(!schedules.isEmpty, "SequentialLR: needs at least one schedule")
        precondition(milestones.count == schedules.count - 1,
                     "SequentialLR: \(schedules.count) schedules need \(schedules.count - 1) milestones, got \(milestones.count)")
        precondition(milestones == milestones.sorted(), "SequentialLR: milestones must be increasing, got \(milestones)")
        for (i, (schedule, end)) in zip(schedules, milestones).enumerated() {
            let steps = end - (i == 0 ? 0 : milestones[i - 1])
            precondition(schedule.stepLimit.map { steps <= $0 } ?? true,
                         "SequentialLR: schedule \(i) runs \(steps) steps, more than the \(schedule.stepLimit!) it has")
        }
        self.schedules = schedules
        self.milestones = milestones
    }

    /// The last schedule's limit, counted from its milestone.
    public var stepLimit: Int? {
        schedules.last!.stepLimit.map { (milestones.last ?? 0) + $0 }
    }

    /// The schedule in force at `step` and the step within it.
    private func phase(at step: Int) -> (schedule: any LRSchedule, step: Int) {
        let index = milestones.count { $0 <= step }
        return (schedules[index], index == 0 ? step : step - milestones[index - 1])
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        let (schedule, local) = phase(at: step)
        return schedule.learningRate(at: local, initial: initial)
    }

    public func momentum(at step: Int) -> Double? {
        let (schedule, local) = phase(at: step)
        return schedule.momentum(at: local)
    }
}
