import Ember
import EmberNN
import Foundation

/// Profiles a range of training steps (numbered from 1 across epochs, as `globalStep`
/// counts them): each step is a range `ProfilerStep#N` (torch.profiler's name) holding the
/// forward, backward and optimizer kernels, with module calls named by their path in the
/// model; the trainer's `data` and `validation` ranges sit between steps. When the last step ends, or training ends first, it writes a Chrome trace to
/// `traceURL` and the key-averages tables (by op, by op and shape, by module) to `tableURL`.
public final class ProfilerCallback: Callback {
    public let steps: ClosedRange<Int>
    public let traceURL: URL
    public let tableURL: URL?
    /// The machine's peak in FLOP/s, for the tables' share-of-peak column.
    public let peakFLOPS: Double?
    /// The profile of the steps, once recorded.
    public private(set) var recorded: Profile?
    private var profiler: Profiler?
    /// Data-parallel, rank 0 profiles (and writes) alone.
    public var runsOnEveryRank: Bool { false }

    public init(steps: ClosedRange<Int>, traceURL: URL, tableURL: URL? = nil, peakFLOPS: Double? = nil) {
        precondition(steps.lowerBound >= 1, "ProfilerCallback: steps are numbered from 1, got \(steps)")
        self.steps = steps
        self.traceURL = traceURL
        self.tableURL = tableURL
        self.peakFLOPS = peakFLOPS
    }

    public func trainBegan(_ trainer: Trainer) throws {
        startIfNext(trainer)
    }

    public func batchBegan(_ batch: Int, trainer: Trainer) throws {
        profiler?.beginRange("ProfilerStep#\(trainer.globalStep + 1)", category: .userAnnotation)
    }

    public func batchEnded(_ batch: Int, logs: [String: Double], trainer: Trainer) throws {
        guard let profiler else { return startIfNext(trainer) }
        profiler.endRange()
        if trainer.globalStep >= steps.upperBound { try finish() }
    }

    public func trainEnded(_ trainer: Trainer) throws {
        try finish()
    }

    /// Starts recording when the next step is the first profiled one, so that reading its
    /// batch is recorded too.
    private func startIfNext(_ trainer: Trainer) {
        guard recorded == nil, profiler == nil, trainer.globalStep + 1 == steps.lowerBound else { return }
        let profiler = Profiler.start()
        profiler.nameModules(of: trainer.model)
        self.profiler = profiler
    }

    private func finish() throws {
        guard let profiler else { return }
        self.profiler = nil
        let profile = profiler.stop()
        recorded = profile
        try profile.writeChromeTrace(to: traceURL)
        if let tableURL {
            let tables = [("op", Profile.Grouping.op), ("op and input shapes", .opAndShape), ("module", .module)].map { title, grouping in
                "Grouped by \(title):\n" + profile.table(groupBy: grouping, peakFLOPS: peakFLOPS)
            }
            try Data((tables.joined(separator: "\n\n") + "\n").utf8).write(to: tableURL, options: .atomic)
        }
    }
}
