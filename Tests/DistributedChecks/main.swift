// What each rank runs in EmberDistributedTests, which starts it under mpirun (or alone, as a
// world of one): `ember-distributed-checks CHECK`. Each check compares against values it
// computes itself, prints "ok CHECK rank R" and exits 0, or prints the failure and exits 1.
import Ember
import EmberDistributed
import EmberModels
import EmberNN
import EmberData
import EmberOptim
import EmberTrain
import Foundation

let group: any ProcessGroup
do {
    group = try defaultProcessGroup()
} catch {
    print("FAIL: \(error)")
    exit(1)
}
let rank = group.rank
let worldSize = group.worldSize

func fail(_ message: String) -> Never {
    print("FAIL rank \(rank): \(message)")
    fflush(stdout)
    exit(1)
}

func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Double, _ what: String) {
    guard actual.shape == expected.shape else { fail("\(what): shape \(actual.shape), expected \(expected.shape)") }
    let a = actual.doubles, e = expected.doubles
    for i in a.indices where !(abs(a[i] - e[i]) <= tolerance * max(1, abs(e[i]))) {
        fail("\(what): element \(i) is \(a[i]), expected \(e[i]) (tolerance \(tolerance))")
    }
}

/// Values that differ by rank: rank r holds r + 1 + i / 8 at position i.
func rankValues(_ shape: [Int], dtype: DType, of r: Int = rank) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(doubles: (0..<count).map { Double(r + 1) + Double($0 % 8) / 8 }, shape: shape, dtype: dtype)
}

// MARK: Collectives

func checkCollectives() throws {
    let ranks = Array(0..<worldSize)
    for dtype in [DType.float32, .float64, .bfloat16, .float16, .int32, .int64] {
        let shape = [3, 4]
        let all = ranks.map { rankValues(shape, dtype: .float64, of: $0) }
        // Integers hold the whole part only (r + 1).
        let values = dtype.isFloatingPoint ? all : all.map { $0.floor() }
        let sum = values.dropFirst().reduce(values[0], +)
        var ops: [(CollectiveReduction, Tensor)] = [(CollectiveReduction.sum, sum), (CollectiveReduction.max, values.last!),
                                                    (CollectiveReduction.min, values[0])]
        if dtype.isFloatingPoint { ops.append((CollectiveReduction.average, sum / Double(worldSize))) }
        for (op, expected) in ops {
            let tensor = rankValues(shape, dtype: dtype).cast(to: dtype)
            try group.allReduce(tensor, op: op)
            guard tensor.dtype == dtype else { fail("allreduce changed the dtype") }
            expectClose(tensor.cast(to: .float64), expected, tolerance: dtype.isHalf ? 1e-2 : 1e-12, "allreduce(\(op)) \(dtype)")
        }
        let broadcasted = rankValues(shape, dtype: dtype)
        try group.broadcast(broadcasted, root: worldSize - 1)
        expectClose(broadcasted.cast(to: .float64), rankValues(shape, dtype: dtype, of: worldSize - 1).cast(to: .float64),
                    tolerance: 0, "broadcast \(dtype)")
    }

    // In place on a view that is not dense (a transposed one).
    let base = rankValues([4, 3], dtype: .float32)
    let view = base.transposed()
    try group.allReduce(view, op: .sum)
    let expected = ranks.map { rankValues([4, 3], dtype: .float32, of: $0) }.reduce(Tensor.zeros([4, 3]), +)
    expectClose(base, expected, tolerance: 1e-6, "allreduce of a transposed view")

    let gathered = try group.allGather(rankValues([2, 2], dtype: .float32))
    expectClose(gathered, Tensor.stack(ranks.map { rankValues([2, 2], dtype: .float32, of: $0) }), tolerance: 0, "allgather")

    // Reduce-scatter: rank r gets the r-th slice of the sum.
    let scatterInput = rankValues([2 * worldSize, 3], dtype: .float32)
    let scattered = try group.reduceScatter(scatterInput, op: .sum)
    let fullSum = ranks.map { rankValues([2 * worldSize, 3], dtype: .float32, of: $0) }.reduce(Tensor.zeros([2 * worldSize, 3]), +)
    expectClose(scattered, fullSum.narrow(axis: 0, start: 2 * rank, count: 2), tolerance: 1e-6, "reduce_scatter")

    // All-to-all: slice s of rank r's input (value 100 r + s) lands at slice r of rank s.
    let outgoingValues: [Double] = (0..<worldSize).flatMap { (s: Int) -> [Double] in [Double(100 * rank + s), Double(100 * rank + s)] }
    let outgoing = Tensor(doubles: outgoingValues, shape: [worldSize, 2], dtype: .int64)
    let incoming = try group.allToAll(outgoing)
    let wantedValues: [Double] = ranks.flatMap { (r: Int) -> [Double] in [Double(100 * r + rank), Double(100 * r + rank)] }
    let wanted = Tensor(doubles: wantedValues, shape: [worldSize, 2], dtype: .float64)
    expectClose(incoming.cast(to: .float64), wanted, tolerance: 0, "all_to_all")

    // Asynchronous: two allreduces in flight at once, waited in reverse.
    let first = Tensor.ones([1000]), second = Tensor.full([10], 2)
    let workA = try group.startAllReduce(first, op: .sum)
    let workB = try group.startAllReduce(second, op: .average)
    try workB.wait()
    try workA.wait()
    expectClose(first, Tensor.full([1000], Double(worldSize)), tolerance: 0, "async allreduce")
    expectClose(second, Tensor.full([10], 2), tolerance: 0, "async average")

    try group.barrier()

    // Point to point: a ring.
    let next = (rank + 1) % worldSize, previous = (rank + worldSize - 1) % worldSize
    let sent = Tensor.full([5], Double(rank))
    let received = Tensor.zeros([5])
    let receiving = try group.startReceive(into: received, from: previous, tag: 7)
    try group.send(sent, to: next, tag: 7)
    try receiving.wait()
    expectClose(received, Tensor.full([5], Double(previous)), tolerance: 0, "send/receive")

    // A subgroup of the odd ranks (none in a world of one), numbered in the order listed.
    let odd = stride(from: 1, to: worldSize, by: 2).reversed().map { $0 }
    if let sub = try group.subgroup(ranks: odd) {
        guard odd.contains(rank), sub.worldSize == odd.count, sub.rank == odd.firstIndex(of: rank)! else {
            fail("subgroup: rank \(rank) got rank \(sub.rank) of \(sub.worldSize) for ranks \(odd)")
        }
        let t = Tensor.full([2], Double(rank))
        try sub.allReduce(t, op: .sum)
        expectClose(t, Tensor.full([2], Double(odd.reduce(0, +))), tolerance: 0, "subgroup allreduce")
    } else if odd.contains(rank) {
        fail("subgroup: rank \(rank) is listed but got no group")
    }
}

// MARK: Disagreements

/// Every rank must throw, naming itself, the collective and what differs.
func expectMismatch(_ what: String, mentioning parts: [String], _ body: () throws -> Void) {
    do {
        try body()
        fail("\(what): no error")
    } catch let error as CollectiveError {
        let text = error.description
        guard error.rank == rank, parts.allSatisfy({ text.contains($0) }) else {
            fail("\(what): the error '\(text)' does not name rank \(rank) and all of \(parts)")
        }
        if rank == 0 { print("error seen: \(text)") }
    } catch {
        fail("\(what): unexpected error \(error)")
    }
}

func checkMismatches() throws {
    guard worldSize >= 2 else { fail("the mismatch check needs two ranks") }
    expectMismatch("shape", mentioning: ["allreduce #1", "rank 0 called allreduce(sum) of float32 [4]", "rank 1 called allreduce(sum) of float32 [5]"]) {
        try group.allReduce(Tensor.ones([rank == 1 ? 5 : 4]), op: .sum)
    }
    expectMismatch("dtype", mentioning: ["allreduce #2", "float64", "float32"]) {
        try group.allReduce(Tensor.ones([4], dtype: rank == 1 ? .float64 : .float32), op: .sum)
    }
    expectMismatch("collective", mentioning: ["#3", "broadcast(root 0)", "allgather"]) {
        if rank == 1 { _ = try group.allGather(Tensor.ones([4])) } else { try group.broadcast(Tensor.ones([4]), root: 0) }
    }
    expectMismatch("reduce op", mentioning: ["allreduce(max)", "allreduce(sum)"]) {
        try group.allReduce(Tensor.ones([4]), op: rank == 1 ? .max : .sum)
    }
    // After the errors the group still works.
    let t = Tensor.ones([3])
    try group.allReduce(t, op: .sum)
    expectClose(t, Tensor.full([3], Double(worldSize)), tolerance: 0, "allreduce after the errors")
}

// MARK: Data-parallel training against one process on the whole batch

/// Trains `makeModel()` for `steps` SGD steps two ways, from rank 0's initial weights: with
/// DistributedDataParallel, each rank on its `perRank` examples of each global batch, and
/// alone on the whole global batch; the weights (and buffers) must agree.
func checkEquivalence(name: String, steps: Int, perRank: Int, inputShape: [Int], classes: Int, tolerance: Double,
                      accumulate: Bool = false, makeInputs: ((_ shape: [Int]) -> Tensor)? = nil, makeModel: () -> any Layer,
                      prepare: (any Layer) -> Void = { _ in }) throws {
    manualSeed(UInt64(100 + rank))  // different initial weights per rank: DDP must broadcast rank 0's
    let distributedModel = makeModel()
    prepare(distributedModel)
    let ddp = try DistributedDataParallel(distributedModel, group: group, bucketCapacity: 4096, firstBucketCapacity: 1024)
    let reference = makeModel()
    try reference.loadStateDict(distributedModel.stateDict())
    let options = SGD.Options(lr: 0.1, momentum: 0.9, weightDecay: 1e-4)
    let distributedOptimizer = SGD(distributedModel.parameters(), options: options)
    let referenceOptimizer = SGD(reference.parameters(), options: options)

    manualSeed(7)  // the same data on every rank
    let global = perRank * worldSize
    let inputs = (makeInputs ?? { Tensor.randomNormal($0) })([steps * global] + inputShape)
    let labels = Tensor.randomIntegers([steps * global], high: classes)
    for step in 0..<steps {
        let batch = inputs.narrow(axis: 0, start: step * global, count: global)
        let batchLabels = labels.narrow(axis: 0, start: step * global, count: global)
        // One process, the whole batch.
        referenceOptimizer.zeroGrad()
        crossEntropy(logits: reference(batch), labels: batchLabels).backward()
        referenceOptimizer.step()
        // Each rank its slice.
        distributedOptimizer.zeroGrad()
        let mine = batch.narrow(axis: 0, start: rank * perRank, count: perRank)
        let myLabels = batchLabels.narrow(axis: 0, start: rank * perRank, count: perRank)
        if accumulate && perRank >= 2 {
            // Two micro-batches: the first without synchronization, each loss halved.
            let half = perRank / 2
            ddp.noSync {
                (crossEntropy(logits: ddp(mine.narrow(axis: 0, start: 0, count: half)),
                              labels: myLabels.narrow(axis: 0, start: 0, count: half)) * 0.5).backward()
            }
            (crossEntropy(logits: ddp(mine.narrow(axis: 0, start: half, count: perRank - half)),
                          labels: myLabels.narrow(axis: 0, start: half, count: perRank - half)) * 0.5).backward()
        } else {
            crossEntropy(logits: ddp(mine), labels: myLabels).backward()
        }
        distributedOptimizer.step()
    }
    let expected = reference.stateDict()
    for (key, value) in distributedModel.stateDict() where value.dtype.isFloatingPoint {
        expectClose(value, expected[key]!, tolerance: tolerance, "\(name): \(key) after \(steps) steps")
    }
}

func checkUnusedParameters() throws {
    final class TwoHeads: Module, Layer {
        let body = Linear(4, 4)
        let used = Linear(4, 3)
        let unused = Linear(4, 3)
        func forward(_ x: Tensor) -> Tensor { used(body(x).relu()) }
    }
    manualSeed(3)
    let model = TwoHeads()
    let ddp = try DistributedDataParallel(model, group: group, findUnusedParameters: true)
    crossEntropy(logits: ddp(Tensor.randomNormal([2, 4])), labels: Tensor([Int64(0), 1])).backward()
    guard model.unused.weight.grad == nil, model.used.weight.grad != nil else {
        fail("findUnusedParameters: the unused head's gradient should stay nil and the used one's be set")
    }
}

/// Uneven inputs: rank r trains 2 + 2r batches inside `join`; the ranks that finish early
/// contribute zero gradients, so each step equals one process on the loss
/// sum(mean loss of each training rank's batch) / worldSize, and every rank ends with the
/// weights of the last rank to finish.
func checkJoin() throws {
    let perRank = 3, classes = 4
    func steps(of r: Int) -> Int { 2 + 2 * r }
    manualSeed(UInt64(30 + rank))
    let model = MLP(inputFeatures: 5, hiddenSizes: [16], outputFeatures: classes)
    let ddp = try DistributedDataParallel(model, group: group, bucketCapacity: 512, firstBucketCapacity: 256)
    let reference = MLP(inputFeatures: 5, hiddenSizes: [16], outputFeatures: classes)
    try reference.loadStateDict(model.stateDict())
    let options = SGD.Options(lr: 0.2, momentum: 0.9)
    let optimizer = SGD(model.parameters(), options: options), referenceOptimizer = SGD(reference.parameters(), options: options)

    manualSeed(8)
    let total = steps(of: worldSize - 1)
    let inputs = Tensor.randomNormal([total, worldSize, perRank, 5])
    let labels = Tensor.randomIntegers([total, worldSize, perRank], high: classes)
    func batch(_ step: Int, _ r: Int) -> (Tensor, Tensor) {
        (inputs.narrow(axis: 0, start: step, count: 1).narrow(axis: 1, start: r, count: 1).reshaped(to: [perRank, 5]),
         labels.narrow(axis: 0, start: step, count: 1).narrow(axis: 1, start: r, count: 1).reshaped(to: [perRank]))
    }
    for step in 0..<total {
        referenceOptimizer.zeroGrad()
        let active = (0..<worldSize).filter { step < steps(of: $0) }
        let losses = active.map { r in let (x, y) = batch(step, r); return crossEntropy(logits: reference(x), labels: y) }
        (losses.dropFirst().reduce(losses[0], +) / Double(worldSize)).backward()
        referenceOptimizer.step()
    }
    try ddp.join {
        for step in 0..<steps(of: rank) {
            optimizer.zeroGrad()
            let (x, y) = batch(step, rank)
            crossEntropy(logits: ddp(x), labels: y).backward()
            optimizer.step()
        }
    }
    let expected = reference.stateDict()
    for (key, value) in model.stateDict() { expectClose(value, expected[key]!, tolerance: 1e-5, "join: \(key)") }
    // The group is in step afterwards.
    let t = Tensor.ones([2])
    try group.allReduce(t, op: .sum)
    expectClose(t, Tensor.full([2], Double(worldSize)), tolerance: 0, "allreduce after join")
}

/// Rank 0 waits at most half a second for an allreduce that rank 1 reaches only after 30
/// seconds: rank 0 gets an error naming the collective and exits with it, and mpirun stops
/// rank 1 (which never wakes).
func checkTimeout() throws {
    guard let world = group as? MPIProcessGroup, worldSize >= 2 else { fail("the timeout check needs two ranks under mpirun") }
    world.timeout = .milliseconds(500)
    if rank == 1 {
        sleep(30)
        print("rank 1 woke")
    }
    do {
        try world.allReduce(Tensor.ones([4]), op: .sum)
        fail("no timeout")
    } catch {
        print("timeout seen: \(error)")
        fflush(stdout)
        exit(3)
    }
}

/// `fit` with a process group, each rank on its sampler's share, against `fit` alone on the
/// whole data with the global batch: the same weights, losses and validation metrics; rank 0
/// alone writes its CSV log.
func checkFit(directory: String) throws {
    let perRank = 4, examples = 24
    manualSeed(11)
    let features = Tensor.randomNormal([examples, 6])
    let labels = Tensor.randomIntegers([examples], high: 3)
    let validationFeatures = Tensor.randomNormal([7, 6])  // an odd size: the ranks' shares differ
    let validationLabels = Tensor.randomIntegers([7], high: 3)
    let train = TensorDataset(features, labels), validation = TensorDataset(validationFeatures, validationLabels)

    func trainer(group: (any ProcessGroup)?, log: URL?) -> Trainer {
        manualSeed(UInt64(20 + (group?.rank ?? 0)))
        let model = MLP(inputFeatures: 6, hiddenSizes: [8], outputFeatures: 3)
        return Trainer(model: model, optimizer: SGD(model.parameters(), options: SGD.Options(lr: 0.2, momentum: 0.5)),
                       loss: CrossEntropyLoss(), metrics: [Accuracy()], callbacks: log.map { [CSVLogger(url: $0)] } ?? [],
                       processGroup: group)
    }
    let log = URL(fileURLWithPath: directory).appendingPathComponent("rank-\(rank).csv")
    let distributed = trainer(group: group, log: log)
    let trainLoader = DataLoader(train, batchSize: perRank)
    trainLoader.sampler = DistributedSampler(datasetCount: examples, group: group, shuffle: false)
    let validationLoader = DataLoader(validation, batchSize: 2)
    validationLoader.sampler = DistributedSampler(datasetCount: 7, group: group, shuffle: false, mode: .exact)
    let history = try distributed.fit(trainLoader, epochs: 2, validation: validationLoader)

    let alone = trainer(group: nil, log: nil)
    try alone.model.loadStateDict(rankZeroInitialWeights())
    let expected = try alone.fit(DataLoader(train, batchSize: perRank * worldSize), epochs: 2, validation: DataLoader(validation, batchSize: 2))
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        expectClose(Tensor(history[key]!), Tensor(expected[key]!), tolerance: 1e-5, "fit: \(key) per epoch")
    }
    let want = alone.model.stateDict()
    for (key, value) in distributed.model.stateDict() { expectClose(value, want[key]!, tolerance: 1e-5, "fit: \(key)") }
    let wrote = FileManager.default.fileExists(atPath: log.path)
    if wrote != (rank == 0) { fail("fit: rank \(rank) \(wrote ? "wrote" : "did not write") its CSV log") }
}

/// The weights rank 0 started from, which DistributedDataParallel copied to every rank: the
/// single-process run starts from them too.
func rankZeroInitialWeights() -> [String: Tensor] {
    manualSeed(20)
    return MLP(inputFeatures: 6, hiddenSizes: [8], outputFeatures: 3).stateDict()
}

let check = CommandLine.arguments.dropFirst().first ?? ""
do {
    switch check {
    case "collectives":
        try checkCollectives()
    case "mismatch":
        try checkMismatches()
    case "ddp-mlp":
        try checkEquivalence(name: "MLP", steps: 4, perRank: 4, inputShape: [10], classes: 5, tolerance: 1e-5) {
            MLP(inputFeatures: 10, hiddenSizes: [32, 16], outputFeatures: 5)
        }
    case "ddp-accumulate":
        try checkEquivalence(name: "MLP with noSync", steps: 3, perRank: 4, inputShape: [10], classes: 5, tolerance: 1e-5,
                             accumulate: true) {
            MLP(inputFeatures: 10, hiddenSizes: [32], outputFeatures: 5)
        }
        try checkUnusedParameters()
    case "ddp-transformer":
        try checkEquivalence(name: "Transformer classifier", steps: 3, perRank: 3, inputShape: [6], classes: 3, tolerance: 1e-4,
                             makeInputs: { Tensor.randomIntegers($0, high: 19) + 1 },
                             makeModel: { TransformerClassifier(vocabularySize: 20, classes: 3, dModel: 16, numHeads: 2, numLayers: 2,
                                                                maxLength: 8, dropout: 0) })
    case "ddp-join":
        try checkJoin()
    case "timeout":
        try checkTimeout()
    case "fit":
        try checkFit(directory: CommandLine.arguments.dropFirst(2).first ?? NSTemporaryDirectory())
    case "ddp-resnet8-syncbn":
        try checkEquivalence(name: "ResNet-8 with SyncBatchNorm", steps: 3, perRank: 4, inputShape: [3, 8, 8], classes: 10,
                             tolerance: 1e-4, makeModel: { CIFARResNet(depth: 8) },
                             prepare: { convertSyncBatchNorm($0, group: group) })
    default:
        fail("unknown check '\(check)' (collectives, mismatch, timeout, ddp-mlp, ddp-accumulate, ddp-transformer, ddp-join, ddp-resnet8-syncbn, fit DIRECTORY)")
    }
} catch {
    fail("\(error)")
}
print("ok \(check) rank \(rank) of \(worldSize)")
