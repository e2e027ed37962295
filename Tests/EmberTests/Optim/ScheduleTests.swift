import Foundation
import XCTest
import Ember
@testable import EmberOptim

/// Learning-rate schedules against torch.optim.lr_scheduler (Fixtures/generate_optim.py):
/// the rates (get_last_lr()) before stepping and after each of 30 steps, per group, and the
/// momentum that OneCycleLR cycles. Only rounding differs: 1e-12.
final class ScheduleTests: XCTestCase {
    /// An SGD over one scalar parameter per learning rate in `lrs`.
    private func optimizer(_ lrs: [Double], momentum: Double = 0) -> SGD {
        SGD(groups: lrs.map { ParameterGroup([Tensor.zeros([1])], SGD.Options(lr: $0, momentum: momentum)) })
    }

    private func check(_ name: String, _ history: [[Double]], key: String = "lr",
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try Fixtures("optim").tensor(name, key)
        let actual = Tensor(doubles: history.flatMap { $0 }, shape: [history.count, history[0].count], dtype: .float64)
        assertClose(actual, expected, atol: 1e-15, rtol: 1e-12, "\(name) \(key)", file: file, line: line)
    }

    /// Rates (and momenta) of a scheduler over SGD groups with `lrs`, before and after each step.
    private func run(_ schedule: any LRSchedule, lrs: [Double], momentum: Double = 0, steps: Int = 30)
        -> (lr: [[Double]], momentum: [[Double]]) {
        let sgd = optimizer(lrs, momentum: momentum)
        let scheduler = LRScheduler(sgd, schedule: schedule)
        var rates = [scheduler.lastLR], momenta = [sgd.parameterGroups.map(\.options.momentum)]
        for _ in 0..<steps {
            sgd.step()
            scheduler.step()
            rates.append(scheduler.lastLR)
            momenta.append(sgd.parameterGroups.map(\.options.momentum))
        }
        XCTAssertEqual(sgd.learningRates, rates.last)
        return (rates, momenta)
    }

    func testStepSchedulesAgainstPyTorch() throws {
        try check("step_lr", run(StepLR(stepSize: 7, gamma: 0.5), lrs: [0.1, 0.02]).lr)
        try check("multistep_lr", run(MultiStepLR(milestones: [12, 5, 20, 20], gamma: 0.3), lrs: [0.1]).lr)
        try check("exponential_lr", run(ExponentialLR(gamma: 0.9), lrs: [0.1, 1.0]).lr)
    }

    func testCosineAnnealingAgainstPyTorch() throws {
        try check("cosine_lr", run(CosineAnnealingLR(tMax: 10, etaMin: 0.001), lrs: [0.1, 0.05]).lr)
    }

    func testOneCycleAgainstPyTorch() throws {
        let cos = run(OneCycleLR(maxLR: 0.1, totalSteps: 31), lrs: [0.1], momentum: 0.9)
        try check("onecycle_cos", cos.lr)
        try check("onecycle_cos", cos.momentum, key: "momentum")
        let linear = run(OneCycleLR(maxLR: 0.5, totalSteps: 30, pctStart: 0.25, anneal: .linear, baseMomentum: 0.8,
                                    maxMomentum: 0.9, divFactor: 10, finalDivFactor: 100, threePhase: true),
                         lrs: [0.1], momentum: 0.9, steps: 29)
        try check("onecycle_linear_three_phase", linear.lr)
        try check("onecycle_linear_three_phase", linear.momentum, key: "momentum")
    }

    func testOneCycleCyclesAdamsBeta1() throws {
        let adam = Adam([Tensor.zeros([1])], lr: 0.1)
        let scheduler = LRScheduler(adam, schedule: OneCycleLR(maxLR: 0.1, totalSteps: 31))
        var beta1 = [[adam.parameterGroups[0].options.beta1]]
        for _ in 0..<30 {
            scheduler.step()
            beta1.append([adam.parameterGroups[0].options.beta1])
        }
        try check("onecycle_cos", beta1, key: "momentum")
        XCTAssertEqual(adam.parameterGroups[0].options.beta2, 0.999)
    }

    func testWarmUpThenAnotherScheduleAgainstPyTorch() throws {
        let cosine = SequentialLR([LinearLR(startFactor: 0.1, totalIters: 5), CosineAnnealingLR(tMax: 20, etaMin: 1e-4)],
                                  milestones: [5])
        try check("warmup_cosine", run(cosine, lrs: [0.1, 0.01]).lr)
        let step = SequentialLR([LinearLR(startFactor: 0.25, endFactor: 0.75, totalIters: 4), StepLR(stepSize: 5, gamma: 0.5)],
                                milestones: [6])
        try check("warmup_step", run(step, lrs: [0.1]).lr)
    }

    func testReduceOnPlateauAgainstPyTorch() throws {
        let fixtures = try Fixtures("optim")
        func run(_ name: String, _ make: (SGD) -> ReduceLROnPlateau) throws {
            let sgd = optimizer([0.1, 0.01])
            let scheduler = make(sgd)
            var rates = [scheduler.lastLR]
            for metric in fixtures.tensor(name, "metrics").doubles {
                scheduler.step(metric: metric)
                rates.append(scheduler.lastLR)
            }
            try check(name, rates)
        }
        try run("plateau_min_rel") {
            ReduceLROnPlateau($0, mode: .min, factor: 0.5, patience: 2, threshold: 0.05, cooldown: 1, minLR: 0.004)
        }
        try run("plateau_max_abs") {
            let scheduler = ReduceLROnPlateau($0, mode: .max, factor: 0.2, patience: 1, threshold: 0.1, thresholdMode: .absolute)
            scheduler.minLRs = [0, 0.001]
            return scheduler
        }
    }

    func testSchedulerStateResumes() throws {
        let schedule = SequentialLR([LinearLR(startFactor: 0.1, totalIters: 5), CosineAnnealingLR(tMax: 20)], milestones: [5])
        let uninterrupted = run(schedule, lrs: [0.1, 0.01], steps: 12).lr

        let sgd = optimizer([0.1, 0.01])
        let scheduler = LRScheduler(sgd, schedule: schedule)
        for _ in 0..<7 { scheduler.step() }
        let saved = try JSONDecoder().decode(LRScheduler.State.self, from: JSONEncoder().encode(scheduler.stateDict()))
        // A fresh optimizer whose rates differ: the state brings back the base rates and the step.
        let fresh = optimizer([1, 1])
        let resumed = LRScheduler(fresh, schedule: schedule)
        try resumed.loadStateDict(saved)
        XCTAssertEqual(fresh.learningRates, uninterrupted[7])
        for _ in 7..<12 { resumed.step() }
        XCTAssertEqual(resumed.lastLR, uninterrupted[12])

        XCTAssertThrowsError(try LRScheduler(optimizer([0.1]), schedule: schedule).loadStateDict(saved)) { error in
            XCTAssertEqual("\(error)", "LRScheduler.loadStateDict: the state has 2 base learning rates, the optimizer 1 parameter groups")
        }
    }

    /// A state past the end of a schedule that has one (a resumed run told to train fewer
    /// epochs, an edited checkpoint) is refused rather than stopping in OneCycleLR.
    func testAStateBeyondTheScheduleIsRefused() throws {
        let cycle = OneCycleLR(maxLR: 0.1, totalSteps: 10)
        XCTAssertEqual(cycle.stepLimit, 10)
        XCTAssertNil(CosineAnnealingLR(tMax: 10).stepLimit)
        let scheduler = LRScheduler(optimizer([0.1]), schedule: cycle)
        XCTAssertNoThrow(try scheduler.loadStateDict(LRScheduler.State(lastEpoch: 10, baseLRs: [0.1])))
        XCTAssertThrowsError(try scheduler.loadStateDict(LRScheduler.State(lastEpoch: 1_000_000, baseLRs: [0.1]))) { error in
            XCTAssertEqual("\(error)", "LRScheduler.loadStateDict: the state has taken 1000000 steps, more than the 10 the schedule has")
        }
        XCTAssertEqual(scheduler.lastEpoch, 10, "a refused state changes nothing")

        // Warm-up before a one-cycle schedule ends where the cycle ends.
        let warmed = SequentialLR([LinearLR(startFactor: 0.1, totalIters: 5), cycle], milestones: [5])
        XCTAssertEqual(warmed.stepLimit, 15)
        XCTAssertNil(SequentialLR([cycle, CosineAnnealingLR(tMax: 10)], milestones: [10]).stepLimit)
        XCTAssertThrowsError(try LRScheduler(optimizer([0.1]), schedule: warmed).loadStateDict(LRScheduler.State(lastEpoch: 16, baseLRs: [0.1]))) {
            XCTAssertEqual("\($0)", "LRScheduler.loadStateDict: the state has taken 16 steps, more than the 15 the schedule has")
        }
    }

    func testPlateauStateResumes() throws {
        let metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]
        let reference = ReduceLROnPlateau(optimizer([0.1]), factor: 0.5, patience: 1)
        for metric in metrics { reference.step(metric: metric) }

        let sgd = optimizer([0.1])
        let first = ReduceLROnPlateau(sgd, factor: 0.5, patience: 1)
        XCTAssertNil(first.stateDict().best)
        for metric in metrics[..<5] { first.step(metric: metric) }
        let saved = try JSONDecoder().decode(ReduceLROnPlateau.State.self, from: JSONEncoder().encode(first.stateDict()))
        let resumed = ReduceLROnPlateau(sgd, factor: 0.5, patience: 1)
        try resumed.loadStateDict(saved)
        for metric in metrics[5...] { resumed.step(metric: metric) }
        XCTAssertEqual(resumed.stateDict(), reference.stateDict())
        XCTAssertEqual(resumed.lastLR, reference.lastLR)
        XCTAssertEqual(reference.lastLR, [0.0125])
    }
}
