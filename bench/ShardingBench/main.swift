// Memory of sharded training and the bubble of pipelines, one rank of an mpirun job
// (bench/sharding.sh starts them and collects the JSON lines rank 0 prints):
//
//     ember-sharding-bench memory MODE [tiny]    MODE: ddp, zero1, zero2, zero2-at-step, fsdp-block
//                                                or fsdp-model; tiny: a one-block GPT of width 16
//     ember-sharding-bench bubble SCHEDULE MICROBATCHES    SCHEDULE: gpipe or 1f1b
import Ember
import EmberDistributed
import EmberModels
import EmberNN
import EmberOptim
import Foundation

let group = try defaultProcessGroup()

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ember-sharding-bench: \(message)\n".utf8))
    exit(2)
}

/// The kibibytes of a /proc/self/status field (VmRSS: resident now, VmHWM: the peak).
func statusKilobytes(_ field: String) -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
    return Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan
}

/// With EMBER_BENCH_PHASES set, each rank prints its resident memory without Ember's block
/// cache at each phase of the run (to stderr), to see where memory stays.
func phase(_ name: String) {
    guard ProcessInfo.processInfo.environment["EMBER_BENCH_PHASES"] != nil else { return }
    CPUBackend.shared.emptyCache()
    FileHandle.standardError.write(Data("rank \(group.rank) \(name): \(Int(statusKilobytes("VmRSS") / 1024)) MiB\n".utf8))
}

func bytes(_ tensors: [Tensor]) -> Int { tensors.reduce(0) { $0 + $1.count * $1.dtype.byteSize } }

/// Rank 0 prints one JSON line with every rank's figures.
func report(_ fields: [String: Any], perRank: [String: Double]) throws {
    let keys = perRank.keys.sorted()
    let local = Tensor(keys.map { perRank[$0]! }, shape: [keys.count])
    let gathered = try group.allGather(local.cast(to: .float64))
    guard group.rank == 0 else { return }
    var row = fields
    row["ranks"] = group.worldSize
    for (k, key) in keys.enumerated() {
        row[key] = (0..<group.worldSize).map { gathered.narrow(axis: 0, start: $0, count: 1).reshaped(to: [keys.count]).doubles[k] }
    }
    let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

// MARK: Memory: a GPT of 8 layers, d_model 512

/// EmberModels' GPT (nanoGPT's, the output layer tied to the token embedding): 8 blocks of
/// d_model 512, vocabulary 8192, 64 positions; or, `tiny`, one block of width 16 over 16
/// tokens, to measure what a rank holds besides the model (runtime, oneDNN, Open MPI).
func benchGPT(tiny: Bool) -> GPT {
    manualSeed(1)
    return GPT(tiny ? GPTConfig(vocabSize: 16, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16)
                    : GPTConfig(vocabSize: 8192, blockSize: 64, nLayer: 8, nHead: 8, nEmbd: 512))
}

func measureMemory(mode: String, tiny: Bool) throws {
    let residentAtStart = statusKilobytes("VmRSS") / 1024
    let batch = 2, length = 64, steps = 2
    let gpt = benchGPT(tiny: tiny)
    let vocabulary = gpt.config.vocabSize, fullCount = gpt.parameterCount
    let residentWithModel = statusKilobytes("VmRSS") / 1024
    phase("model built")
    let model: any Layer
    let backward: () -> Void, update: () -> Void
    let accounted: () -> (parameters: Int, gradients: Int, state: Int)
    manualSeed(UInt64(7 + group.rank))
    let tokens = Tensor.randomIntegers([batch, length], high: vocabulary), labels = Tensor.randomIntegers([batch * length], high: vocabulary)
    func loss(_ model: any Layer) -> Tensor { crossEntropy(logits: model(tokens).reshaped(to: [-1, vocabulary]), labels: labels) }
    func stateBytes<O>(_ optimizer: Optimizer<O>) -> Int { optimizer.state.values.reduce(0) { $0 + bytes(Array($1.buffers.values)) } }
    switch mode {
    case "ddp":
        model = try DistributedDataParallel(gpt, group: group)
        let optimizer = Adam(gpt.parameters(), lr: 1e-4)
        (backward, update) = ({ optimizer.zeroGrad(); loss(model).backward() }, { optimizer.step() })
        accounted = { (bytes(gpt.parameters()), bytes(gpt.parameters().compactMap(\.grad)), stateBytes(optimizer)) }
    case "zero1", "zero2", "zero2-at-step":
        model = gpt
        let optimizer = try ShardedOptimizer(gpt.parameters(), options: Adam.Options(lr: 1e-4), group: group,
                                             stage: mode == "zero1" ? .optimizerState : .gradients,
                                             reduceDuringBackward: mode == "zero2") { Adam(groups: $0) }
        (backward, update) = ({ optimizer.zeroGrad(); loss(model).backward() }, { optimizer.step() })
        // Zero-2 drops the full gradients during backward (at the step with zero2-at-step);
        // zero-1 keeps them (averaged), as DDP does.
        accounted = { (bytes(gpt.parameters()), bytes(gpt.parameters().compactMap(\.grad) + optimizer.shards.compactMap(\.grad)),
                       stateBytes(optimizer.shardOptimizer)) }
    case "fsdp-block", "fsdp-model":
        let sharded = try fullyShard(gpt, group: group, policy: mode == "fsdp-block" ? .moduleTypes([GPTBlock.self]) : .wholeModel)
        model = sharded
        let optimizer = Adam(sharded.parameters(), lr: 1e-4)
        (backward, update) = ({
            optimizer.zeroGrad()
            let value = loss(model)
            phase("after forward")
            value.backward()
        }, { optimizer.step() })
        accounted = { (bytes(sharded.parameters()), bytes(sharded.parameters().compactMap(\.grad)), stateBytes(optimizer)) }
    default:
        fail("unknown memory mode '\(mode)' (ddp, zero1, zero2, zero2-at-step, fsdp-block, fsdp-model)")
    }
    // The full model is built on every rank before it is sharded (no meta-device
    // initialization): what sharding freed is in Ember's cache of large blocks until emptied.
    let residentAfterSharding = statusKilobytes("VmRSS") / 1024
    phase("wrapped")
    var seconds = [Double]()
    // The gradients a rank holds between backward and the step (the most it holds at once).
    var gradientsAfterBackward = 0
    for _ in 0..<steps {
        try group.barrier()
        let start = Date()
        backward()
        gradientsAfterBackward = accounted().gradients
        phase("after backward")
        update()
        seconds.append(Date().timeIntervalSince(start))
        phase("after step")
    }
    let (p, g, s) = accounted()
    let resident = statusKilobytes("VmRSS") / 1024
    // Ember keeps freed large blocks for reuse (up to an eighth of the machine's memory):
    // resident memory without them is the live set.
    CPUBackend.shared.emptyCache()
    try report(["bench": "memory", "mode": mode, "model": "GPT \(gpt.config.nLayer) layers d_model \(gpt.config.nEmbd) vocab \(vocabulary) (tied head), \(fullCount) parameters",
                "batch_per_rank": "\(batch)x\(length) tokens"],
               perRank: ["accounted_mib": Double(p + g + s) / 1_048_576, "parameters_mib": Double(p) / 1_048_576,
                         "gradients_mib": Double(g) / 1_048_576, "optimizer_state_mib": Double(s) / 1_048_576,
                         "gradients_after_backward_mib": Double(gradientsAfterBackward) / 1_048_576,
                         "resident_mib": resident, "resident_without_cache_mib": statusKilobytes("VmRSS") / 1024,
                         "peak_resident_mib": statusKilobytes("VmHWM") / 1024,
                         "resident_at_start_mib": residentAtStart, "resident_with_model_mib": residentWithModel,
                         "resident_after_sharding_mib": residentAfterSharding,
                         "last_step_s": seconds.last!])
}

// MARK: Pipeline bubble

func measureBubble(schedule: Pipeline.Schedule, microBatches: Int) throws {
    let width = 1024, rowsPerMicroBatch = 128, reps = 3
    manualSeed(3)
    var layers = [any Layer]()
    for _ in 0..<(4 * group.worldSize) { layers += [Linear(width, width), ReLU()] }
    let stage = pipelineStage(layers, stages: group.worldSize, stage: group.rank)
    let pipeline = Pipeline(stage: stage, group: group, microBatches: microBatches, schedule: schedule)
    let x = Tensor.randomNormal([rowsPerMicroBatch * microBatches, width])
    let target = Tensor.randomNormal([rowsPerMicroBatch * microBatches, width])
    var bubbles = [Double]()
    for rep in 0..<(1 + reps) {
        try group.barrier()
        try pipeline.step(input: x, labels: target, loss: { ($0 - $1).square().mean() })
        stage.zeroGrad()
        if rep > 0 { bubbles.append(1 - pipeline.lastTiming.busy / pipeline.lastTiming.total) }
    }
    let stages = Double(group.worldSize), m = Double(microBatches)
    try report(["bench": "bubble", "schedule": schedule.rawValue, "micro_batches": microBatches, "theory": (stages - 1) / (m + stages - 1)],
               perRank: ["bubble": bubbles.sorted()[bubbles.count / 2]])
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "memory" where arguments.count == 2 || (arguments.count == 3 && arguments[2] == "tiny"):
    try measureMemory(mode: arguments[1], tiny: arguments.count == 3)
case "bubble" where arguments.count == 3:
    guard let schedule = Pipeline.Schedule(rawValue: arguments[1]) else { fail("unknown schedule '\(arguments[1])' (gpipe, 1f1b)") }
    guard let m = Int(arguments[2]), m > 0 else { fail("micro-batches must be a positive integer, got '\(arguments[2])'") }
    try measureBubble(schedule: schedule, microBatches: m)
default:
    fail("usage: ember-sharding-bench memory ddp|zero1|zero2|zero2-at-step|fsdp-block|fsdp-model [tiny], or bubble gpipe|1f1b MICROBATCHES")
}
