import Ember

/// What bounds a workload's speed, for `ember bench --roofline`.
enum WorkloadBound {
    /// Arithmetic: compared with the fp32 peak (matrix products and convolutions, counted as
    /// `countingFLOPs` counts them).
    case compute
    /// Memory traffic: at least `bytes` read and written per run, compared with the bandwidth
    /// of a copy of that many bytes.
    case memory(bytes: Int)
    /// Neither (per-call overhead).
    case overhead
}

/// The machine's limits measured in the same run as the workloads, and each workload's share
/// of them.
struct Roofline {
    /// The best GFLOP/s of a 4096^3 fp32 matrix product (the peak of BENCHMARKS.md).
    let peakGFLOPs: Double

    /// Measures the peak with `seconds`, the timing the workloads use (wall clock or CPU time).
    static func measured(reps: Int, seconds: (Workload) -> Double) -> Roofline {
        let peak = peakMatmulWorkload()
        _ = peak.timedRun()
        return Roofline(peakGFLOPs: (0..<reps).map { _ in peak.figure(seconds: seconds(peak)) }.max()!)
    }

    /// The roofline fields of a workload whose median run took `medianSeconds`.
    func fields(of workload: Workload, medianSeconds: Double, reps: Int, seconds: (Workload) -> Double) -> [String: Any] {
        switch workload.bound {
        case .compute:
            let flops = Double(countingFLOPs { _ = workload.timedRun() }.flops)
            let achieved = flops / medianSeconds / 1e9
            return ["gflop_per_run": flops / 1e9, "gflop_per_s": achieved, "peak_gflop_per_s": peakGFLOPs,
                    "share_of_peak": achieved / peakGFLOPs]
        case .memory(let bytes):
            let copy = CopyWorkload(bytes: bytes)
            _ = copy.timedRun()
            let bandwidth = (0..<reps).map { _ in copy.figure(seconds: seconds(copy)) }.max()!
            let achieved = Double(bytes) / medianSeconds / 1e9
            return ["gb_per_run": Double(bytes) / 1e9, "gb_per_s": achieved, "copy_gb_per_s": bandwidth,
                    "share_of_bandwidth": achieved / bandwidth]
        case .overhead:
            return [:]
        }
    }

    /// The fields as a clause of the text report.
    static func text(_ row: [String: Any]) -> String {
        func format(_ key: String, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", row[key] as? Double ?? 0) }
        if row["share_of_peak"] != nil {
            return "; \(format("gflop_per_run", 3)) GFLOP/run, \(format("gflop_per_s")) GFLOP/s, "
                + "\(format("share_of_peak", 3)) of the fp32 peak \(format("peak_gflop_per_s")) GFLOP/s"
        }
        if row["share_of_bandwidth"] != nil {
            return "; \(format("gb_per_run", 4)) GB/run at least, \(format("gb_per_s")) GB/s, "
                + "\(format("share_of_bandwidth", 3)) of a copy's \(format("copy_gb_per_s")) GB/s"
        }
        return ""
    }
}

/// A copy of `bytes / 2` bytes into another buffer (read half, write half): the bandwidth a
/// memory-bound workload moving `bytes` can reach.
struct CopyWorkload: Workload {
    let source: Tensor
    let destination: Tensor
    var id: String { "copy" }
    var name: String { "copy of \(source.shape[0] * 4) bytes" }
    var unit: String { "GB/s" }
    var bound: WorkloadBound { .overhead }

    init(bytes: Int) {
        source = Tensor.randomNormal([bytes / 8], source: .key(Key(7)))
        destination = Tensor.zeros([bytes / 8])
    }

    func timedRun() -> Double { elapsed { destination.assign(source) } }
    func figure(seconds: Double) -> Double { Double(source.shape[0] * 8) / seconds / 1e9 }
}
