import ArgumentParser
import Ember
import EmberDistributed
import EmberIO
import Foundation

/// Runs the benchmark workloads of shared/BENCHMARKS.md on Ember's side. The peers' side
/// and the side-by-side table are in bench/ (see bench/README.md).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run benchmark workloads (W1...W10); all when none is named.",
        discussion: "W10 (data-parallel scaling) starts its ranks through Open MPI's mpirun itself.")

    @Argument(help: "Workload ids, e.g. W1 W9.") var workloads: [String] = []
    @Option(parsing: .unconditional, help: "Timed repetitions per workload (after 2 warm-ups).") var reps = 5
    @Flag(help: "Print one JSON object per line.") var json = false
    @Flag(help: "Measure the machine's fp32 peak on a 4096^3 matrix product instead.") var peak = false
    @Flag(help: "Instead: train W3 from a data loader with on-the-fly augmentation and report the time spent waiting for data.")
    var dataWait = false
    @Flag(help: "Instead: write a sharded TFRecord image dataset, read it back with augmentation and report images/s (bench/tfrecord_lab.py runs tf.data on the same files).")
    var tfrecordLab = false
    @Flag(help: "Instead: time fused scaled-dot-product attention against the unfused formula at L = S = 1024, 2048, 4096 (one head, width 64, plain and causal, forward and forward + backward), with each measurement's peak memory.")
    var attentionLab = false
    @Option(help: "Where --tfrecord-lab writes its shards, kept for bench/tfrecord_lab.py. [default: a temporary folder, removed]")
    var labDir: String?
    @Option(parsing: .unconditional, help: "Images per epoch for --data-wait and --tfrecord-lab.") var images = 1280
    @Option(parsing: .unconditional, help: "Loader worker threads for --data-wait and --tfrecord-lab.") var workers = 2
    @Flag(help: ArgumentHelp("Time runs by the process's CPU time instead of the wall clock.",
                             discussion: "With one thread (EMBER_NUM_THREADS=1 OMP_NUM_THREADS=1), a figure that other processes on a busy machine barely disturb, for comparing builds or sides there."))
    var cpuTime = false
    @Option(help: "W4-W7: fp32, or bf16 (autocast: products in bfloat16, float32 weights; JSON lines then carry \"precision\").")
    var precision = "fp32"
    @Flag(help: ArgumentHelp("Also report each compute-bound workload's FLOPs and share of the fp32 peak, and W8's bytes moved and share of the memory bandwidth.",
                             discussion: "The peak (the best 4096^3 matrix product) and the bandwidth (a copy of W8's bytes) are measured in the same run, with the same timing."))
    var roofline = false
    @Flag(help: "Compiled W4 runs its 3x3 convolutions with Winograd's algorithm (CompileOptions.winograd): faster, less exact.")
    var fastMath = false
    @Option(help: "The all-MiniLM-L6-v2 folder for W7. [default: $EMBER_MINILM_DIR, else ~/.cache/ember/all-MiniLM-L6-v2, which scripts/fetch-minilm.sh fills]")
    var minilm: String?
    @Option(help: ArgumentHelp("Run W4 or W7 through this ONNX file (a torch.onnx.export of ResNet-50, or of MiniLM with its pooling) imported into Ember; bench/peers.py --onnx FILE runs onnxruntime on it.", valueName: "file"))
    var onnx: String?

    func run() throws {
        guard reps > 0 else { throw CommandError("--reps must be positive, got \(reps)") }
        // --data-wait times whole batches of 64 images, held in memory as CIFAR-10's are.
        guard images >= 64 else { throw CommandError("--images must be at least 64 (one batch), got \(images)") }
        if let problem = MemoryLimit.problem(bytes: MemoryLimit.bytes([images, 3072])) { throw CommandError("--images \(images) is too many: they need \(problem)") }
        guard workers >= 0 else { throw CommandError("--workers must not be negative, got \(workers)") }
        guard let mode = Precision(rawValue: precision), mode != .fp16 else {
            throw CommandError("--precision \(precision): expected fp32 or bf16")
        }
        if let minilm {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: minilm, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandError("--minilm \(minilm): no such folder (give the all-MiniLM-L6-v2 folder that scripts/fetch-minilm.sh fills)")
            }
            setenv("EMBER_MINILM_DIR", minilm, 1)
        }
        guard !roofline || !(peak || dataWait || tfrecordLab || attentionLab) else {
            throw CommandError("--roofline reports on the workloads W1...W9; it does not go with --peak, --data-wait, --tfrecord-lab or --attention-lab")
        }
        if attentionLab {
            guard workloads.isEmpty, !peak, !dataWait, !tfrecordLab, mode == .fp32 else {
                throw CommandError("--attention-lab is a measurement of its own: it takes no workloads and does not go with --peak, --data-wait, --tfrecord-lab or --precision")
            }
            AttentionLab.run(reps: reps, json: json) { body in
                guard cpuTime else { return elapsed(body) }
                let start = processorSeconds()
                body()
                return processorSeconds() - start
            }
            return
        }
        if peak {
            report(measure(peakMatmulWorkload()))
            return
        }
        guard labDir == nil || tfrecordLab else { throw CommandError("--lab-dir is for --tfrecord-lab") }
        guard !(dataWait && tfrecordLab) else { throw CommandError("--data-wait and --tfrecord-lab are separate measurements: give one") }
        if tfrecordLab {
            try TFRecordLab.run(images: images, workers: workers, reps: reps, directory: labDir.map { URL(fileURLWithPath: $0) }, json: json)
            return
        }
        if dataWait {
            try DataWaitMeasurement.run(images: images, workers: workers, json: json)
            return
        }
        if let onnx {
            let ids = workloads.map { $0.uppercased() }
            guard ids.count == 1, ["W4", "W7"].contains(ids[0]) else {
                throw CommandError("--onnx runs one workload through an imported file: name W4 or W7, got \(ids.isEmpty ? "none" : ids.joined(separator: " "))")
            }
            guard FileManager.default.fileExists(atPath: onnx) else { throw CommandError("--onnx \(onnx): no such file") }
            for compiled in [false, true] {
                let workload = ONNXInferenceWorkload(id: ids[0], file: URL(fileURLWithPath: onnx), compiled: compiled)
                if let reason = workload.unavailableReason { throw CommandError("--onnx \(onnx): \(reason)") }
                report(measure(workload))
            }
            return
        }
        let named = workloads.isEmpty ? allWorkloads.map(\.id) + [DataParallelScaling.id] : workloads.map { $0.uppercased() }
        var ids = named.enumerated().filter { !named[..<$0.offset].contains($0.element) }.map(\.element)
        if mode != .fp32 {
            if workloads.isEmpty { ids = ids.filter(Self.mixedPrecisionWorkloads.contains) }
            if let other = ids.first(where: { !Self.mixedPrecisionWorkloads.contains($0) }) {
                throw CommandError("--precision \(precision): runs W4, W5, W6 and W7, not \(other)")
            }
        }
        if MPIProcessGroup.isLaunchedByMPI {
            // A rank of the job that W10 started.
            guard ids == [DataParallelScaling.id] else { throw CommandError("under mpirun, ember bench runs W10 only, got \(ids)") }
            try DataParallelScaling.runRank(reps: reps)
            return
        }
        for case let workload as ResNet50InferenceWorkload in allWorkloads { workload.fastMath = fastMath }
        let limits = roofline ? Roofline.measured(reps: reps, seconds: seconds) : nil
        for id in ids {
            if id == DataParallelScaling.id {
                if MPILaunch.mpirunPath() == nil {
                    let reason = "needs Open MPI's mpirun (Debian: openmpi-bin)"
                    if !workloads.isEmpty { throw CommandError("\(id): \(reason)") }
                    report(["workload": id, "impl": "ember", "error": reason])
                } else {
                    var row = try DataParallelScaling.measure(reps: reps)
                    if json { row["name"] = nil }
                    report(row)
                }
                continue
            }
            // A workload may run as several implementations (eager and compiled), one line each.
            let runs = allWorkloads.filter { $0.id == id }
            guard !runs.isEmpty else {
                throw CommandError("unknown workload '\(id)'; known: \(knownIds.joined(separator: " "))")
            }
            for workload in runs {
                if let reason = workload.unavailableReason {
                    // Asked for by name or by its files, a workload that cannot run is an error;
                    // in a run of all of them, a line says why it was skipped.
                    if !workloads.isEmpty || (id == "W7" && minilm != nil) { throw CommandError("\(id): \(reason)") }
                    report(["workload": id, "impl": workload.impl, "error": reason])
                    continue
                }
                report(measure(workload, roofline: limits))
            }
        }
    }

    /// The workloads that run with `--precision bf16` (shared/BENCHMARKS.md).
    static let mixedPrecisionWorkloads: Set = ["W4", "W5", "W6", "W7"]

    /// Every workload id once, in order.
    var knownIds: [String] {
        let all = allWorkloads.map(\.id) + [DataParallelScaling.id]
        return all.enumerated().filter { !all[..<$0.offset].contains($0.element) }.map(\.element)
    }

    /// Preparation (compiling) and every run under `--precision`'s autocast.
    func measure(_ workload: Workload, roofline: Roofline? = nil) -> [String: Any] {
        let mode = Precision(rawValue: precision)!
        mode.run { workload.prepare() }
        for _ in 0..<2 { _ = mode.run { workload.timedRun() } }
        let times = (0..<reps).map { _ in mode.run { seconds(workload) } }.sorted()
        let figures = times.map { workload.figure(seconds: $0) }.sorted()
        var row: [String: Any] = [
            "workload": workload.id, "impl": workload.impl, "unit": workload.unit,
            "median": figures[figures.count / 2], "min": figures.first!, "max": figures.last!,
            "peak_rss_mb": peakResidentMegabytes(),
        ]
        if mode != .fp32 { row["precision"] = mode.rawValue }
        if let resnet = workload as? ResNet50InferenceWorkload, let error = resnet.winogradRelativeError {
            row["fast_math"] = true
            row["winograd_relative_error"] = error
        }
        if !json { row["name"] = workload.name + (mode == .fp32 ? "" : ", \(mode.rawValue)") }
        if let roofline {
            row.merge(roofline.fields(of: workload, medianSeconds: times[times.count / 2], reps: reps, seconds: seconds)) { $1 }
        }
        return row
    }

    /// One run's seconds: wall clock as the workload measures it, or the process's CPU time.
    func seconds(_ workload: Workload) -> Double {
        guard cpuTime else { return workload.timedRun() }
        let start = processorSeconds()
        _ = workload.timedRun()
        return processorSeconds() - start
    }

    func processorSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let seconds = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    func report(_ row: [String: Any]) {
        if json {
            let data = try! JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else if let error = row["error"] {
            print("\(row["workload"]!): not run: \(error)")
        } else {
            let format = { (v: Any?) in String(format: "%.3f", (v as? Double) ?? 0) }
            print("\(row["workload"]!) \(row["name"] ?? ""): median \(format(row["median"])) \(row["unit"]!) "
                  + "(min \(format(row["min"])), max \(format(row["max"])))"
                  + (row["images_per_s_1_rank"].map { "; 1 rank \(format($0)) images/s, 2 ranks \(format(row["images_per_s_2_ranks"])) images/s, "
                      + "allreduce \(format(row["allreduce_bus_gb_per_s"])) GB/s" }
                      ?? ", peak RSS \(format(row["peak_rss_mb"])) MB")
                  + Roofline.text(row)
                  + ((row["winograd_relative_error"] as? Double).map { String(format: "; Winograd: logits differ from direct convolutions' by %.2e of the largest", $0) } ?? ""))
        }
    }

    func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
