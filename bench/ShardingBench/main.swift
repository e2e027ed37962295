// Memory of sharded training and the bubble of pipelines, one rank of an mpirun job
// (bench/sharding.sh starts them and collects the JSON lines rank 0 prints):
//
//     ember-sharding-bench memory MODE    MODE: ddp, zero1, zero2 or fsdp
//     ember-sharding-bench bubble SCHEDULE MICROBATCHES    SCHEDULE: gpipe or 1f1b
import Ember
import EmberDistributed
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

/// Token and position embeddings.
final class Embeddings: Module, Layer {
    let wte: Embedding
    let wpe: Embedding
    init(vocabulary: Int, length: Int, width: Int) {
        wte = Embedding(vocabulary, width)
        wpe = Embedding(length, width)
    }
    func forward(_ tokens: Tensor) -> Tensor { wte(tokens) + wpe(Tensor.arange(tokens.shape[1])) }
}

/// A pre-norm transformer block with causal self-attention (nanoGPT's block).
final class CausalBlock: Module, Layer {
    let layer: TransformerEncoderLayer
    init(width: Int, heads: Int) {
        layer = TransformerEncoderLayer(dModel: width, numHeads: heads, feedforward: 4 * width, dropout: 0, activation: .gelu,
                                        batchFirst: true, normFirst: true)
    }
    func forward(_ x: Tensor) -> Tensor { layer(x, mask: nil, isCausal: true) }
}

func gptLayers(vocabulary: Int, length: Int, width: Int, depth: Int) -> [any Layer] {
    manualSeed(1)
    return [Embeddings(vocabulary: vocabulary, length: length, width: width)] + (0..<depth).map { _ in CausalBlock(width: width, heads: 8) }
        + [LayerNorm(width), Linear(width, vocabulary, bias: false)]
}

func measureMemory(mode: String) throws {
    let residentAtStart = statusKilobytes("VmRSS") / 1024
    let vocabulary = 8192, length = 64, width = 512, depth = 8, batch = 2, steps = 2
    let layers = gptLayers(vocabulary: vocabulary, length: length, width: width, depth: depth)
    let fullCount = layers.reduce(0) { $0 + $1.parameterCount }
    let model: any Layer
    let backward: () -> Void, update: () -> Void
    let accounted: () -> (parameters: Int, gradients: Int, state: Int)
    manualSeed(UInt64(7 + group.rank))
    let tokens = Tensor.randomIntegers([batch, length], high: vocabulary), labels = Tensor.randomIntegers([batch * length], high: vocabulary)
    func loss(_ model: any Layer) -> Tensor { crossEntropy(logits: model(tokens).reshaped(to: [-1, vocabulary]), labels: labels) }
    func stateBytes<O>(_ optimizer: Optimizer<O>) -> Int { optimizer.state.values.reduce(0) { $0 + bytes(Array($1.buffers.values)) } }
    switch mode {
    case "ddp":
        let plain = Sequential(layers)
        model = try DistributedDataParallel(plain, group: group)
        let optimizer = Adam(plain.parameters(), lr: 1e-4)
        (backward, update) = ({ optimizer.zeroGrad(); loss(model).backward() }, { optimizer.step() })
        accounted = { (bytes(plain.parameters()), bytes(plain.parameters().compactMap(\.grad)), stateBytes(optimizer)) }
    case "zero1", "zero2", "zero2-at-step":
        let plain = Sequential(layers)
        model = plain
        let optimizer = try ShardedOptimizer(plain.parameters(), options: Adam.Options(lr: 1e-4), group: group,
                                             stage: mode == "zero1" ? .optimizerState : .gradients,
                                             reduceDuringBackward: mode == "zero2") { Adam(groups: $0) }
        (backward, update) = ({ optimizer.zeroGrad(); loss(model).backward() }, { optimizer.step() })
        // Zero-2 drops the full gradients during backward (at the step with zero2-at-step);
        // zero-1 keeps them (averaged), as DDP does.
        accounted = { (bytes(plain.parameters()), bytes(plain.parameters().compactMap(\.grad) + optimizer.shards.compactMap(\.grad)),
                       stateBytes(optimizer.shardOptimizer)) }
    case "fsdp":
        let sharded = try fullyShard(layers, group: group, policy: .eachLayer)
        model = sharded
        let optimizer = Adam(sharded.parameters(), lr: 1e-4)
        (backward, update) = ({ optimizer.zeroGrad(); loss(model).backward() }, { optimizer.step() })
        accounted = { (bytes(sharded.parameters()), bytes(sharded.parameters().compactMap(\.grad)), stateBytes(optimizer)) }
    default:
        fail("unknown memory mode '\(mode)' (ddp, zero1, zero2, zero2-at-step, fsdp)")
    }
    var seconds = [Double]()
    // The gradients a rank holds between backward and the step (the most it holds at once).
    var gradientsAfterBackward = 0
    for _ in 0..<steps {
        try group.barrier()
        let start = Date()
        backward()
        gradientsAfterBackward = accounted().gradients
        update()
        seconds.append(Date().timeIntervalSince(start))
    }
    let (p, g, s) = accounted()
    let resident = statusKilobytes("VmRSS") / 1024
    // Ember keeps freed large blocks for reuse (up to an eighth of the machine's memory):
    // resident memory without them is the live set.
    CPUBackend.shared.emptyCache()
    try report(["bench": "memory", "mode": mode, "model": "GPT 8 layers d_model 512 vocab 8192, \(fullCount) parameters",
                "batch_per_rank": "\(batch)x\(length) tokens"],
               perRank: ["accounted_mib": Double(p + g + s) / 1_048_576, "parameters_mib": Double(p) / 1_048_576,
                         "gradients_mib": Double(g) / 1_048_576, "optimizer_state_mib": Double(s) / 1_048_576,
                         "gradients_after_backward_mib": Double(gradientsAfterBackward) / 1_048_576,
                         "resident_mib": resident, "resident_without_cache_mib": statusKilobytes("VmRSS") / 1024,
                         "peak_resident_mib": statusKilobytes("VmHWM") / 1024,
                         "resident_at_start_mib": residentAtStart,
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
case "memory" where arguments.count == 2:
    try measureMemory(mode: arguments[1])
case "bubble" where arguments.count == 3:
    guard let schedule = Pipeline.Schedule(rawValue: arguments[1]) else { fail("unknown schedule '\(arguments[1])' (gpipe, 1f1b)") }
    guard let m = Int(arguments[2]), m > 0 else { fail("micro-batches must be a positive integer, got '\(arguments[2])'") }
    try measureBubble(schedule: schedule, microBatches: m)
default:
    fail("usage: ember-sharding-bench memory ddp|zero1|zero2|fsdp, or bubble gpipe|1f1b MICROBATCHES")
}
