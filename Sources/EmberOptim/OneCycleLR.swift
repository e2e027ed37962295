import Foundation

/// The 1cycle policy (Smith & Topin): the rate rises from maxLR / divFactor to maxLR over
/// the first pctStart of totalSteps, then anneals to maxLR / (divFactor * finalDivFactor);
/// momentum (or Adam's beta1) moves the opposite way between maxMomentum and baseMomentum.
/// With `threePhase`, the rate comes back down to its start symmetrically before the final
/// anneal. torch.optim.lr_scheduler.OneCycleLR's values; the groups' own rates are ignored.
public struct OneCycleLR: LRSchedule {
    public enum Anneal: Sendable {
        case cos, linear
    }

    private struct Phase {
        let end: Double
        let startLR: Double, endLR: Double
        let startMomentum: Double, endMomentum: Double
    }

    public let totalSteps: Int
    public var stepLimit: Int? { totalSteps }
    public let anneal: Anneal
    public let cycleMomentum: Bool
    private let phases: [Phase]

    public init(maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, anneal: Anneal = .cos,
                cycleMomentum: Bool = true, baseMomentum: Double = 0.85, maxMomentum: Double = 0.95,
                divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        precondition(totalSteps > 0, "OneCycleLR: totalSteps must be positive, got \(totalSteps)")
        precondition(pctStart >= 0 && pctStart <= 1, "OneCycleLR: pctStart must be in [0, 1], got \(pctStart)")
        self.totalSteps = totalSteps
        self.anneal = anneal
        self.cycleMomentum = cycleMomentum
        let initialLR = maxLR / divFactor, minLR = initialLR / finalDivFactor
        let rampEnd = pctStart * Double(totalSteps) - 1, last = Double(totalSteps - 1)
        let rise = Phase(end: rampEnd, startLR: initialLR, endLR: maxLR, startMomentum: maxMomentum, endMomentum: baseMomentum)
        if threePhase {
            phases = [rise,
                      Phase(end: 2 * pctStart * Double(totalSteps) - 2, startLR: maxLR, endLR: initialLR,
                            startMomentum: baseMomentum, endMomentum: maxMomentum),
                      Phase(end: last, startLR: initialLR, endLR: minLR, startMomentum: maxMomentum, endMomentum: maxMomentum)]
        } else {
            phases = [rise,
                      Phase(end: last, startLR: maxLR, endLR: minLR, startMomentum: baseMomentum, endMomentum: maxMomentum)]
        }
    }

    /// The phase that `step` falls in and the fraction of it done.
    private func position(at step: Int) -> (phase: Phase, fraction: Double) {
        precondition(step <= totalSteps, "OneCycleLR: stepped \(step) times, more than totalSteps (\(totalSteps))")
        var start = 0.0
        for phase in phases.dropLast() {
            if Double(step) <= phase.end { return (phase, (Double(step) - start) / (phase.end - start)) }
            start = phase.end
        }
        let last = phases[phases.count - 1]
        return (last, (Double(step) - start) / (last.end - start))
    }

    private func interpolate(_ start: Double, _ end: Double, _ fraction: Double) -> Double {
        switch anneal {
        case .cos: end + (start - end) / 2 * (cos(Double.pi * fraction) + 1)
        case .linear: (end - start) * fraction + start
        }
    }

    public func learningRate(at step: Int, initial: Double) -> Double {
        let (phase, fraction) = position(at: step)
        return interpolate(phase.startLR, phase.endLR, fraction)
    }

    public func momentum(at step: Int) -> Double? {
        guard cycleMomentum else { return nil }
        let (phase, fraction) = position(at: step)
        return interpolate(phase.startMomentum, phase.endMomentum, fraction)
    }
}
