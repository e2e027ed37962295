import EmberRuns
import EmberTrain
import Foundation

extension TrainingRun {
    /// Profiles `steps` of this run (`--profile-steps`) into trace.json and profile.txt in its
    /// directory, refusing steps it will not train: past its last step, or already trained by
    /// the run being resumed (which has taken `done` steps). Data-parallel, rank 0 alone
    /// profiles (its steps are every rank's).
    func profile(steps: ClosedRange<Int>, after done: Int) throws {
        let flag = "--profile-steps \(steps.lowerBound)-\(steps.upperBound)"
        if let batches = data.train.batchesPerEpoch, steps.lowerBound > config.epochs * batches {
            throw CommandError("\(flag): the run trains \(config.epochs * batches) steps (\(config.epochs) epoch\(config.epochs == 1 ? "" : "s") of \(batches) batches)")
        }
        guard steps.lowerBound > done else {
            throw CommandError("\(flag): the run resumes after step \(done); profile steps after it")
        }
        guard isMain else { return }
        trainer.callbacks.append(ProfilerCallback(steps: steps, traceURL: directory.appendingPathComponent("trace.json"),
                                                  tableURL: directory.appendingPathComponent("profile.txt"),
                                                  peakFLOPS: measuredPeakFLOPS()))
    }
}
