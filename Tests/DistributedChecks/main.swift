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

// MARK: fit with sharded state: checkpoints and resuming

/// How `fit` shards the training state in the fit-sharded and fit-resume checks.
enum FitSharding: String, CaseIterable {
    /// fsdpPolicy: the Sequential cut by `fullyShard(_:group:policy:)`: its first layer a
    /// unit inside the root unit, which holds the second.
    case zero1, zero2, fsdp, fsdpPolicy
}

/// Data for the sharded fit checks: 24 training and 12 validation examples, so that 1, 2 and
/// 3 ranks all get equal shares (fully sharded units need every rank in every forward pass).
func fitShardingData() -> (train: TensorDataset, validation: TensorDataset) {
    manualSeed(11)
    let train = TensorDataset(Tensor.randomNormal([24, 6]), Tensor.randomIntegers([24], high: 3))
    let validation = TensorDataset(Tensor.randomNormal([12, 6]), Tensor.randomIntegers([12], high: 3))
    return (train, validation)
}

/// Layers whose state keys are those of the same Sequential sharded into units ("0.weight"...).
func fitShardingLayers() -> [any Layer] {
    manualSeed(20)
    return [Linear(6, 8), Linear(8, 3)]
}

/// A trainer whose state is sharded as `sharding` says across `group` (or a plain one with
/// Adam alone on the whole batch when `sharding` is nil), checkpointing into `directory`.
func fitShardingTrainer(_ sharding: FitSharding?, directory: URL?) throws -> Trainer {
    let options = Adam.Options(lr: 0.05)
    let model: any Layer
    let optimizer: any OptimizerProtocol
    switch sharding {
    case nil:
        model = Sequential(fitShardingLayers())
        optimizer = Adam(model.parameters(), options: options)
    case .zero1?, .zero2?:
        model = Sequential(fitShardingLayers())
        optimizer = try ShardedOptimizer(model.parameters(), options: options, group: group,
                                         stage: sharding == .zero1 ? .optimizerState : .gradients) { Adam(groups: $0) }
    case .fsdp?:
        model = try fullyShard(fitShardingLayers(), group: group)
        optimizer = Adam(model.parameters(), options: options)
    case .fsdpPolicy?:
        model = try fullyShard(Sequential(fitShardingLayers()), group: group, policy: .parameterCount(minimum: 50))
        let units = fullyShardedUnits(in: model, includingNested: true).map(\.name)
        guard units == ["", "0"] else { fail("fit fsdpPolicy: units \(units), expected the root and 0") }
        optimizer = Adam(model.parameters(), options: options)
    }
    let schedule = LearningRateScheduler(LRScheduler(optimizer, schedule: StepLR(stepSize: 2, gamma: 0.5)), interval: .step)
    let checkpoints = directory.map { [ModelCheckpoint(directory: $0, everySteps: 3)] as [any Callback] } ?? []
    return Trainer(model: model, optimizer: optimizer, loss: CrossEntropyLoss(), metrics: [Accuracy()],
                   callbacks: [schedule] + checkpoints, processGroup: sharding == nil ? nil : group)
}

func fitShardingLoaders(perRank: Int, alone: Bool) -> (train: any BatchProvider, validation: any BatchProvider) {
    let (train, validation) = fitShardingData()
    let trainLoader = DataLoader(train, batchSize: alone ? perRank * worldSize : perRank)
    let validationLoader = DataLoader(validation, batchSize: 2)
    if !alone {
        trainLoader.sampler = DistributedSampler(datasetCount: 24, group: group, shuffle: false)
        validationLoader.sampler = DistributedSampler(datasetCount: 12, group: group, shuffle: false, mode: .exact)
    }
    return (trainLoader, validationLoader)
}

func expectSameTraining(_ trained: Trainer, _ expected: Trainer, epochs: [Int], _ what: String) throws {
    for key in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        let got = epochs.map { trained.history[key]![$0] }, want = epochs.map { expected.history[key]![$0] }
        expectClose(Tensor(got), Tensor(want), tolerance: 1e-5, "\(what): \(key) of epochs \(epochs)")
    }
    let want = try consolidatedStateDict(of: expected.model)
    let got = try consolidatedStateDict(of: trained.model)
    guard Set(got.keys) == Set(want.keys) else { fail("\(what): model keys \(got.keys.sorted()), expected \(want.keys.sorted())") }
    for (key, value) in got { expectClose(value, want[key]!, tolerance: 1e-5, "\(what): \(key)") }
    let state = try consolidatedOptimizerState(of: trained.optimizer, model: trained.model)
    let wanted = try consolidatedOptimizerState(of: expected.optimizer, model: expected.model)
    guard state.info == wanted.info, Set(state.tensors.keys) == Set(wanted.tensors.keys), !wanted.tensors.isEmpty else {
        fail("\(what): optimizer state \(state.info) \(state.tensors.keys.sorted()), expected \(wanted.info) \(wanted.tensors.keys.sorted())")
    }
    for (key, value) in state.tensors { expectClose(value, wanted.tensors[key]!, tolerance: 1e-5, "\(what): optimizer \(key)") }
}

/// `fit` with sharded state and a ModelCheckpoint (every rank takes part, rank 0 writes):
/// equal to one process with Adam on the whole batch; a fresh sharded trainer restored from
/// the checkpoint at epoch 2 continues exactly as the run that was not interrupted.
/// Leaves DIRECTORY/<mode>/epoch2.ckpt for fit-resume at another world size.
func checkFitSharded(_ sharding: FitSharding, directory: URL) throws {
    let perRank = 4, what = "fit \(sharding.rawValue)"
    let first = directory.appendingPathComponent("\(sharding.rawValue)-\(worldSize)")
    let sharded = try fitShardingTrainer(sharding, directory: first)
    let (train, validation) = fitShardingLoaders(perRank: perRank, alone: false)
    try sharded.fit(train, epochs: 2, validation: validation)
    // Rank 0 wrote it (the ranks share this machine's file system).
    if !FileManager.default.fileExists(atPath: first.appendingPathComponent("last.ckpt").path) { fail("\(what): no last.ckpt") }
    let saved = directory.appendingPathComponent("\(sharding.rawValue)-epoch2.ckpt")
    if rank == 0 { try FileManager.default.copyItem(at: first.appendingPathComponent("last.ckpt"), to: saved) }
    try group.barrier()

    // Resumed from the file on every rank, into a trainer whose weights start elsewhere.
    manualSeed(99)
    let resumed = try fitShardingTrainer(sharding, directory: directory.appendingPathComponent("\(sharding.rawValue)-resumed-\(worldSize)"))
    try TrainingCheckpoint(contentsOf: saved).restore(into: resumed)
    guard resumed.epoch == 2, resumed.globalStep == sharded.globalStep else {
        fail("\(what): resumed at epoch \(resumed.epoch), step \(resumed.globalStep); saved at 2, \(sharded.globalStep)")
    }
    try sharded.fit(train, epochs: 3, validation: validation)
    try resumed.fit(train, epochs: 3, validation: validation)
    try expectSameTraining(resumed, sharded, epochs: [0, 1, 2], "\(what): resumed against uninterrupted")

    let alone = try fitShardingTrainer(nil, directory: nil)
    let (wholeTrain, wholeValidation) = fitShardingLoaders(perRank: perRank, alone: true)
    try alone.fit(wholeTrain, epochs: 3, validation: wholeValidation)
    try expectSameTraining(sharded, alone, epochs: [0, 1, 2], "\(what): against one process on the whole batch")
}

/// Resumes the epoch-2 checkpoint of fit-sharded (written at another world size) at this
/// world size, sharded as `sharding` says, and trains a third epoch: equal to one process
/// with plain Adam restored from the same file on this world size's global batch.
func checkFitResume(_ sharding: FitSharding, directory: URL) throws {
    let perRank = 4, what = "resume \(sharding.rawValue) in \(worldSize) ranks"
    let saved = directory.appendingPathComponent("\(sharding.rawValue)-epoch2.ckpt")
    let checkpoint = try TrainingCheckpoint(contentsOf: saved)
    let resumed = try fitShardingTrainer(sharding, directory: directory.appendingPathComponent("\(sharding.rawValue)-\(worldSize)"))
    try checkpoint.restore(into: resumed, source: saved.path)
    let (train, validation) = fitShardingLoaders(perRank: perRank, alone: false)
    try resumed.fit(train, epochs: 3, validation: validation)

    let alone = try fitShardingTrainer(nil, directory: nil)
    try checkpoint.restore(into: alone, source: saved.path)
    let (wholeTrain, wholeValidation) = fitShardingLoaders(perRank: perRank, alone: true)
    try alone.fit(wholeTrain, epochs: 3, validation: wholeValidation)
    try expectSameTraining(resumed, alone, epochs: [2], what)
}

// MARK: ZeRO: sharded optimizer state and gradients

/// An MLP whose parameter sizes (70, 7, 21, 3) do not divide by 2 or 3: the shards are uneven.
func zeroModel() -> MLP { MLP(inputFeatures: 10, hiddenSizes: [7], outputFeatures: 3) }

/// Trains with a ShardedOptimizer, each rank on its slice of each global batch, against one
/// process with the wrapped optimizer on the whole batch (a learning-rate schedule, and
/// global-norm clipping where `clip`): the parameters and the consolidated optimizer state
/// must agree. Then a sharded optimizer loads the single process's state (saved at world
/// size 1) and both take one more step.
///
/// At stage 2 the gradients are reduced during backward (in buckets of 100 bytes: two for
/// this model) unless `atStep`; `microBatches` backward passes add up before each step.
func checkSharded<Options: OptimizerOptions>(_ name: String, stage: ZeroStage, atStep: Bool = false, microBatches: Int = 1,
                                             groups: (MLP) -> [ParameterGroup<Options>],
                                             clip: Double?, make: @escaping ([ParameterGroup<Options>]) -> Optimizer<Options>) throws {
    let perRank = 3 * microBatches, steps = 3
    manualSeed(UInt64(40 + rank))  // different per rank: the sharded optimizer broadcasts rank 0's
    let model = zeroModel()
    let sharded = try ShardedOptimizer(groups: groups(model), group: group, stage: stage, reduceDuringBackward: !atStep,
                                       bucketCapacity: 100, make: make)
    if stage == .gradients && !atStep && sharded.buckets.count != 2 { fail("\(name): buckets \(sharded.buckets), expected two") }
    let reference = zeroModel()
    try reference.loadStateDict(model.stateDict())
    let plain = make(groups(reference))
    let schedules = [LRScheduler(sharded, schedule: StepLR(stepSize: 2, gamma: 0.5)),
                     LRScheduler(plain, schedule: StepLR(stepSize: 2, gamma: 0.5))]

    manualSeed(9)
    let global = perRank * worldSize
    let inputs = Tensor.randomNormal([steps + 1, global, 10]), labels = Tensor.randomIntegers([steps + 1, global], high: 3)
    func batch(_ step: Int, _ start: Int, _ count: Int) -> (Tensor, Tensor) {
        (inputs.narrow(axis: 0, start: step, count: 1).reshaped(to: [global, 10]).narrow(axis: 0, start: start, count: count),
         labels.narrow(axis: 0, start: step, count: 1).reshaped(to: [global]).narrow(axis: 0, start: start, count: count))
    }
    func trainStep(_ step: Int, _ optimizer: any OptimizerProtocol, _ shardedOptimizer: ShardedOptimizer<Options>?) throws {
        optimizer.zeroGrad()
        if let shardedOptimizer {
            let part = perRank / microBatches
            for micro in 0..<microBatches {
                let (x, y) = batch(step, rank * perRank + micro * part, part)
                (crossEntropy(logits: model(x), labels: y) / Double(microBatches)).backward()
                // Reduced during backward, the full gradients are gone after it.
                if stage == .gradients && !atStep, let kept = model.parameters().firstIndex(where: { $0.grad != nil }) {
                    fail("\(name): parameter \(kept) keeps its full gradient after backward")
                }
            }
            if let clip { try shardedOptimizer.clipGradNorm(maxNorm: clip) }
        } else {
            let (x, y) = batch(step, 0, global)
            crossEntropy(logits: reference(x), labels: y).backward()
            if let clip { clipGradNorm(reference.parameters(), maxNorm: clip) }
        }
        optimizer.step()
    }
    for step in 0..<steps {
        try trainStep(step, plain, nil)
        try trainStep(step, sharded, sharded)
        for schedule in schedules { schedule.step() }
    }
    let what = "\(name) stage \(stage.rawValue)\(atStep ? " reduced at the step" : "")\(microBatches > 1 ? ", \(microBatches) micro-batches" : "")"
    let expected = reference.stateDict()
    for (key, value) in model.stateDict() { expectClose(value, expected[key]!, tolerance: 1e-5, "\(what): \(key) after \(steps) steps") }
    let consolidated = sharded.stateDict(), wanted = plain.stateDict()
    guard consolidated.info == wanted.info, Set(consolidated.tensors.keys) == Set(wanted.tensors.keys), !wanted.tensors.isEmpty else {
        fail("\(what): consolidated state \(consolidated.info) with keys \(consolidated.tensors.keys.sorted()), expected \(wanted.info) with \(wanted.tensors.keys.sorted())")
    }
    for (key, value) in consolidated.tensors { expectClose(value, wanted.tensors[key]!, tolerance: 1e-5, "\(what): state \(key)") }

    // The single process's state, loaded into a fresh sharded optimizer at this world size.
    let resumed = try ShardedOptimizer(groups: groups(model), group: group, stage: stage, reduceDuringBackward: !atStep, make: make)
    try resumed.loadStateDict(wanted)
    try trainStep(steps, plain, nil)
    try trainStep(steps, resumed, resumed)
    let after = reference.stateDict()
    for (key, value) in model.stateDict() { expectClose(value, after[key]!, tolerance: 1e-5, "\(what): \(key) after resuming") }
}

func checkZero() throws {
    for stage in [ZeroStage.optimizerState, .gradients] {
        try checkSharded("SGD", stage: stage, groups: { [ParameterGroup($0.parameters(), SGD.Options(lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true))] },
                         clip: 0.5, make: { SGD(groups: $0) })
        // Two groups with different options.
        try checkSharded("Adam", stage: stage, groups: { model in
            let parameters = model.parameters()
            return [ParameterGroup(Array(parameters.prefix(2)), Adam.Options(lr: 0.01)),
                    ParameterGroup(Array(parameters.dropFirst(2)), Adam.Options(lr: 0.02, amsgrad: true))]
        }, clip: nil, make: { Adam(groups: $0) })
        try checkSharded("AdamW", stage: stage, groups: { [ParameterGroup($0.parameters(), Adam.Options(lr: 0.01, weightDecay: 0.1))] },
                         clip: 1.0, make: { AdamW(groups: $0) })
        try checkSharded("RMSprop", stage: stage, groups: { [ParameterGroup($0.parameters(), RMSprop.Options(lr: 0.01, momentum: 0.5, centered: true))] },
                         clip: nil, make: { RMSprop(groups: $0) })
        try checkSharded("Adagrad", stage: stage, groups: { [ParameterGroup($0.parameters(), Adagrad.Options(lr: 0.05, lrDecay: 0.01))] },
                         clip: 0.3, make: { Adagrad(groups: $0) })
    }
    // Stage 2 reducing at the step, and backward passes adding up before a step, both ways.
    for atStep in [false, true] {
        try checkSharded("Adam", stage: .gradients, atStep: atStep, microBatches: 2,
                         groups: { [ParameterGroup($0.parameters(), Adam.Options(lr: 0.01))] }, clip: 0.5, make: { Adam(groups: $0) })
    }
}

// MARK: Fully sharded data parallel

/// A small language-model-like stack: token embedding, two transformer layers (with
/// dropout), a classifier over 5 classes per position.
func shardedTestLayers(seed: UInt64, dropout: Double) -> [any Layer] {
    manualSeed(seed)
    return [Embedding(20, 16),
            TransformerEncoderLayer(dModel: 16, numHeads: 2, feedforward: 24, dropout: dropout, batchFirst: true),
            TransformerEncoderLayer(dModel: 16, numHeads: 2, feedforward: 24, dropout: dropout, batchFirst: true),
            Linear(16, 5)]
}

/// Fully sharded units (each `policy`) against DistributedDataParallel over the same
/// layers, from rank 0's weights, with Adam (or SGD, which unlike Adam is not blind to the
/// scale of the gradients): every rank draws the same dropout masks in
/// both, so the losses of each step and the final weights must agree. Without dropout they
/// must also equal one process on the whole batch.
func checkFullyShard(policy: ShardingPolicy, dropout: Double, sgd: Bool = false) throws {
    let perRank = 2, length = 5, steps = 3
    let sharded = try fullyShard(shardedTestLayers(seed: UInt64(50 + rank), dropout: dropout), group: group, policy: policy)
    let ddpModel = Sequential(shardedTestLayers(seed: 50, dropout: dropout))
    let ddp = try DistributedDataParallel(ddpModel, group: group)
    let alone = Sequential(shardedTestLayers(seed: 50, dropout: dropout))
    let optimizers = [sharded, ddpModel, alone].map { (model: Sequential) -> any OptimizerProtocol in
        sgd ? SGD(model.parameters(), lr: 0.2, momentum: 0.9) : Adam(model.parameters(), lr: 0.01)
    }
    manualSeed(12)
    let global = perRank * worldSize
    let tokens = Tensor.randomIntegers([steps, global, length], high: 20), labels = Tensor.randomIntegers([steps, global, length], high: 5)
    func loss(_ model: any Layer, _ step: Int, _ start: Int, _ count: Int) -> Tensor {
        let x = tokens.narrow(axis: 0, start: step, count: 1).reshaped(to: [global, length]).narrow(axis: 0, start: start, count: count)
        let y = labels.narrow(axis: 0, start: step, count: 1).reshaped(to: [global, length]).narrow(axis: 0, start: start, count: count)
        return crossEntropy(logits: model(x).reshaped(to: [-1, 5]), labels: y.reshaped(to: [-1]))
    }
    let what = "fully sharded (\(policy), dropout \(dropout))"
    for step in 0..<steps {
        var losses = [Tensor]()
        for (index, model) in [sharded as any Layer, ddp].enumerated() {
            optimizers[index].zeroGrad()
            manualSeed(UInt64(1000 + 10 * step + rank))  // the same dropout masks in both
            let value = loss(model, step, rank * perRank, perRank)
            value.backward()
            optimizers[index].step()
            losses.append(try group.allReduce(value.detached().contiguous(), op: .average))
        }
        expectClose(losses[0], losses[1], tolerance: 1e-5, "\(what): loss of step \(step) against DDP")
        if dropout == 0 {
            optimizers[2].zeroGrad()
            let value = loss(alone, step, 0, global)
            value.backward()
            optimizers[2].step()
            expectClose(losses[0], value, tolerance: 1e-5, "\(what): loss of step \(step) against one process")
        }
    }
    // Each unit's forward prefetched the next unit's gather, each backward the previous one's.
    let units = sharded.layers.map { $0 as! FullyShardedModule }
    for (i, unit) in units.enumerated() {
        let expected = steps * ((i > 0 ? 1 : 0) + (i < units.count - 1 ? 1 : 0))
        guard unit.prefetchesUsed == expected else { fail("\(what): unit \(i) used \(unit.prefetchesUsed) prefetched gathers, expected \(expected)") }
    }
    var full = [Tensor]()
    for unit in units { full += try unit.fullParameters() }
    let expected = ddpModel.parameters()
    guard full.count == expected.count else { fail("\(what): \(full.count) parameters, expected \(expected.count)") }
    for (i, (a, b)) in zip(full, expected).enumerated() { expectClose(a, b, tolerance: 1e-5, "\(what): parameter \(i)") }
    // Consolidated state dicts: each unit's is its layer's in the DDP model; loading one
    // (another layer's) gives every rank its chunks of it.
    if case .eachLayer = policy {
        for (index, layer) in sharded.layers.enumerated() {
            let unit = layer as! FullyShardedModule
            let want = ddpModel.layers[index].stateDict()
            for (key, value) in try unit.fullStateDict() { expectClose(value, want[key]!, tolerance: 1e-5, "\(what): full state \(index).\(key)") }
        }
        manualSeed(99)
        let other = Embedding(20, 16).stateDict()
        let first = sharded.layers[0] as! FullyShardedModule
        try first.loadFullStateDict(other)
        expectClose(try first.fullStateDict()["weight"]!, other["weight"]!, tolerance: 0, "\(what): loaded full state")
    }
    // Each rank holds about 1/worldSize of the elements.
    let held = sharded.parameters().reduce(0) { $0 + $1.count }, total = expected.reduce(0) { $0 + $1.count }
    guard held <= (total + worldSize * expected.count) / worldSize else { fail("\(what): rank holds \(held) of \(total) elements") }
}

/// A GPT small enough for the checks: 3 blocks, d_model 16, 20 tokens, no dropout.
func smallGPT(seed: UInt64) -> GPT {
    manualSeed(seed)
    return GPT(GPTConfig(vocabSize: 20, blockSize: 8, nLayer: 3, nHead: 2, nEmbd: 16))
}

/// A GPT cut into units by `policy` (the units named `units`; the root is ""), against
/// DistributedDataParallel and one process on the whole batch: the same losses for 3 Adam
/// steps, the model's own state keys and parameter order, the consolidated state equal to
/// DDP's weights, and about 1/worldSize of the elements held by each rank.
func checkFullyShardedGPT(policy: AutoWrapPolicy, units: [String]) throws {
    let perRank = 2, length = 6, steps = 3, what = "GPT fully sharded (\(policy))"
    let plain = smallGPT(seed: 60)
    let sharded = try fullyShard(smallGPT(seed: UInt64(60 + rank)), group: group, policy: policy)  // rank 0's weights win
    let names = fullyShardedUnits(in: sharded, includingNested: true).map(\.name)
    guard names == units else { fail("\(what): units \(names), expected \(units)") }
    guard sharded.stateKeys() == plain.stateKeys(), sharded.namedParameters().map(\.0) == plain.namedParameters().map(\.0) else {
        fail("\(what): keys \(sharded.namedParameters().map(\.0)), expected the model's \(plain.namedParameters().map(\.0))")
    }
    let ddpModel = smallGPT(seed: 60)
    let ddp = try DistributedDataParallel(ddpModel, group: group)
    let models: [any Layer] = [sharded, ddp, plain]
    let optimizers = [sharded.parameters(), ddpModel.parameters(), plain.parameters()].map { Adam($0, lr: 0.01) }
    manualSeed(13)
    let global = perRank * worldSize
    let tokens = Tensor.randomIntegers([steps, global, length + 1], high: 20)
    for step in 0..<steps {
        let batch = tokens.narrow(axis: 0, start: step, count: 1).reshaped(to: [global, length + 1])
        var losses = [Tensor]()
        for (index, model) in models.enumerated() {
            let rows = index == 2 ? batch : batch.narrow(axis: 0, start: rank * perRank, count: perRank)
            optimizers[index].zeroGrad()
            let logits = model(rows.narrow(axis: 1, start: 0, count: length))
            let value = crossEntropy(logits: logits.reshaped(to: [-1, 20]), labels: rows.narrow(axis: 1, start: 1, count: length).reshaped(to: [-1]))
            value.backward()
            optimizers[index].step()
            losses.append(index == 2 ? value.detached() : try group.allReduce(value.detached().contiguous(), op: .average))
        }
        expectClose(losses[0], losses[1], tolerance: 1e-5, "\(what): loss of step \(step) against DDP")
        expectClose(losses[0], losses[2], tolerance: 1e-5, "\(what): loss of step \(step) against one process")
    }
    let state = try consolidatedStateDict(of: sharded), want = ddpModel.stateDict()
    guard Set(state.keys) == Set(want.keys) else { fail("\(what): consolidated keys \(state.keys.sorted()), expected \(want.keys.sorted())") }
    for (key, value) in state { expectClose(value, want[key]!, tolerance: 1e-5, "\(what): consolidated \(key)") }
    guard consolidatedStateShapes(of: sharded) == want.mapValues(\.shape) else { fail("\(what): consolidated shapes differ") }
    // Loading another model's state gives every rank its chunks of it; the tied head follows.
    let other = smallGPT(seed: 5).stateDict()
    try loadConsolidatedStateDict(other, into: sharded)
    for (key, value) in try consolidatedStateDict(of: sharded) { expectClose(value, other[key]!, tolerance: 0, "\(what): loaded \(key)") }
    let held = sharded.parameters().reduce(0) { $0 + $1.count }, total = plain.parameterCount
    guard held <= (total + worldSize * plain.parameters().count) / worldSize else { fail("\(what): rank holds \(held) of \(total) elements") }
    // Each block unit but the first used a prefetched gather in forward, each but the last in backward.
    let blockUnits = fullyShardedUnits(in: sharded, includingNested: true).dropFirst().map(\.unit)
    for (i, unit) in blockUnits.enumerated() {
        let expected = steps * ((i > 0 ? 1 : 0) + (i < blockUnits.count - 1 ? 1 : 0))
        guard unit.prefetchesUsed == expected else { fail("\(what): unit \(i) used \(unit.prefetchesUsed) prefetched gathers, expected \(expected)") }
    }
}

func checkFSDP() throws {
    try checkFullyShardedGPT(policy: .moduleTypes([GPTBlock.self]), units: ["", "transformer.h.0", "transformer.h.1", "transformer.h.2"])
    // Blocks of 3,280 elements: mlp.c_fc (1,088) and mlp.c_proj (1,040) reach 1,000, so
    // neither the MLP (2,160) nor the block is a unit; at 300 attn.c_attn (816) is one too,
    // and the token embedding (320) would be, but it is tied to the head: left to the root.
    try checkFullyShardedGPT(policy: .parameterCount(minimum: 1000),
                             units: [""] + (0..<3).flatMap { ["transformer.h.\($0).mlp.c_fc", "transformer.h.\($0).mlp.c_proj"] })
    try checkFullyShardedGPT(policy: .parameterCount(minimum: 300),
                             units: [""] + (0..<3).flatMap { ["transformer.h.\($0).attn.c_attn", "transformer.h.\($0).mlp.c_fc", "transformer.h.\($0).mlp.c_proj"] })
    try checkFullyShardedGPT(policy: .wholeModel, units: [""])
    try checkFullyShard(policy: .eachLayer, dropout: 0)
    try checkFullyShard(policy: .parameterCount(minimum: 2000), dropout: 0, sgd: true)
    try checkFullyShard(policy: .eachLayer, dropout: 0.2)
}

// MARK: pmap and named-axis collectives

func checkPmapCollectives() throws {
    let w = worldSize
    // Rank r's slice is row r: r * 10 + [0, 1, 2].
    let rows = Tensor(doubles: (0..<w).flatMap { r in (0..<3).map { Double(r * 10 + $0) } }, shape: [w, 3], dtype: .float32)
    let sum = Tensor(doubles: (0..<3).map { i in Double((0..<w).reduce(0) { $0 + $1 * 10 + i }) }, shape: [3], dtype: .float32)
    let body = { (xs: [Tensor]) -> [Tensor] in
        let x = xs[0]
        let square = Tensor.stack((0..<w).map { _ in x })  // [w, 3]: one slice per rank
        return [psum(x, axisName: "i"), pmean(x, axisName: "i"), pmax(x, axisName: "i"), pmin(x, axisName: "i"),
                allGather(x, axisName: "i"), allGather(x, axisName: "i", tiled: true),
                psumScatter(square, axisName: "i"), psumScatter(x.reshaped(to: [1, 3]).expanded(to: [w, 3]).reshaped(to: [3 * w]), axisName: "i", tiled: true),
                x * 2]
    }
    var results = pmap({ xs in body(xs) + [axisIndex(axisName: "i").cast(to: .float32)] }, axisName: "i", group: group)([rows])
    // The same program vectorized in this process, over the examples instead of the ranks.
    let vectorized = vmap(body, axisName: "i")([rows])
    for (i, (a, b)) in zip(results, vectorized).enumerated() { expectClose(a, b, tolerance: 1e-6, "pmap result \(i) against vmap") }
    results.insert(results.removeLast(), at: 4)
    // Every result comes back with one row per rank.
    let everyRank = { (t: Tensor) in Tensor.stack((0..<w).map { _ in t }) }
    expectClose(results[0], everyRank(sum), tolerance: 1e-6, "psum")
    expectClose(results[1], everyRank(sum / Double(w)), tolerance: 1e-6, "pmean")
    expectClose(results[2], everyRank(rows.narrow(axis: 0, start: w - 1, count: 1).reshaped(to: [3])), tolerance: 0, "pmax")
    expectClose(results[3], everyRank(rows.narrow(axis: 0, start: 0, count: 1).reshaped(to: [3])), tolerance: 0, "pmin")
    expectClose(results[4], Tensor(doubles: (0..<w).map(Double.init), shape: [w], dtype: .float32), tolerance: 0, "axisIndex")
    expectClose(results[5], everyRank(rows), tolerance: 0, "allGather")
    expectClose(results[6], everyRank(rows.reshaped(to: [3 * w])), tolerance: 0, "allGather tiled")
    // psumScatter of [x, x, ...]: rank r keeps the sum of row r of every rank's square = sum.
    expectClose(results[7], everyRank(sum), tolerance: 1e-6, "psumScatter")
    // Tiled: rank r keeps block r of the sum of every rank's [x, x, ...]: the same sum.
    expectClose(results[8], everyRank(sum), tolerance: 1e-6, "psumScatter tiled")
    expectClose(results[9], rows * 2, tolerance: 0, "a result without collectives")
    // Forward mode inside pmap (each rank differentiates its own function) gives the
    // vectorized program's tangents, which NamedAxisTests check against finite differences.
    let tangents = Tensor(doubles: (0..<(w * 3)).map { Double($0 % 5) - 2 }, shape: [w, 3], dtype: .float32)
    let differentiated = { (xt: [Tensor]) -> [Tensor] in jvp(body, primals: [xt[0]], tangents: [xt[1]]).tangents }
    let pmapped = pmap(differentiated, axisName: "i", group: group)([rows, tangents])
    let vectorizedTangents = vmap(differentiated, axisName: "i")([rows, tangents])
    for (i, (a, b)) in zip(pmapped, vectorizedTangents).enumerated() {
        expectClose(a, b, tolerance: 1e-5, "jvp inside pmap: tangent \(i) against vmap")
    }
    expectClose(pmapped[0], everyRank(tangents.sum(axis: 0)), tolerance: 1e-6, "jvp inside pmap: psum's tangent")
}

/// A pure data-parallel step, (params, optState, batch) -> (params, optState, loss), with
/// the gradients pmean'ed inside pmap, against DistributedDataParallel with Adam.
func checkPmapDataParallel(compiled: Bool) throws {
    let perRank = 3, steps = 3
    manualSeed(60)
    let model = MLP(inputFeatures: 6, hiddenSizes: [8], outputFeatures: 3)
    let ddpModel = MLP(inputFeatures: 6, hiddenSizes: [8], outputFeatures: 3)
    try ddpModel.loadStateDict(model.stateDict())
    let ddp = try DistributedDataParallel(ddpModel, group: group)
    let ddpOptimizer = Adam(ddpModel.parameters(), lr: 0.01)

    let optimizer = adam(learningRate: 0.01)
    var params = model.parameterTree()
    var state = optimizer.initialize(params)
    let parameterCount = params.leaves.count, stateCount = state.leaves.count
    let (paramsShape, stateShape) = (params, state)
    let body = { (leaves: [Tensor]) -> [Tensor] in
        let params = paramsShape.replacingLeaves(Array(leaves[0..<parameterCount]))
        let state = stateShape.replacingLeaves(Array(leaves[parameterCount..<parameterCount + stateCount]))
        let (x, y) = (leaves[parameterCount + stateCount], leaves[parameterCount + stateCount + 1])
        let (loss, grads) = valueAndGrad { (p: TensorTree) in model.applying(p) { crossEntropy(logits: model(x), labels: y) } }(params)
        let averaged = grads.map { pmean($0, axisName: "batch") }
        let (updates, newState) = optimizer.update(averaged, state, params)
        return applyUpdates(params, updates).leaves + newState.leaves + [pmean(loss, axisName: "batch")]
    }
    // Compiled, the collectives are operations of the graph, run at each replay.
    let compiledBody = compile(body)
    let step = pmap(compiled ? { compiledBody($0) } : body, axisName: "batch", group: group,
                    inAxes: Array(repeating: nil, count: parameterCount + stateCount) + [0, 0])

    manualSeed(13)
    let inputs = Tensor.randomNormal([steps, worldSize, perRank, 6]), labels = Tensor.randomIntegers([steps, worldSize, perRank], high: 3)
    for s in 0..<steps {
        let x = inputs.narrow(axis: 0, start: s, count: 1).reshaped(to: [worldSize, perRank, 6])
        let y = labels.narrow(axis: 0, start: s, count: 1).reshaped(to: [worldSize, perRank])
        // Replicated results come back once per rank: keep the first.
        let out = step(params.leaves + state.leaves + [x, y]).map { $0.narrow(axis: 0, start: 0, count: 1).squeezed(axis: 0) }
        params = params.replacingLeaves(Array(out[0..<parameterCount]))
        state = state.replacingLeaves(Array(out[parameterCount..<parameterCount + stateCount]))

        ddpOptimizer.zeroGrad()
        let ddpLoss = crossEntropy(logits: ddp(x.narrow(axis: 0, start: rank, count: 1).squeezed(axis: 0)),
                                   labels: y.narrow(axis: 0, start: rank, count: 1).squeezed(axis: 0))
        ddpLoss.backward()
        ddpOptimizer.step()
        expectClose(out.last!, try group.allReduce(ddpLoss.detached().cloned(), op: .average), tolerance: 1e-5, "pmap step \(s): loss")
    }
    // Traced once, replayed for the other steps.
    if compiled && compiledBody.traceCount != 1 { fail("pmap compiled step: traced \(compiledBody.traceCount) times") }
    let expected = ddpModel.stateDict()
    for (key, value) in params.flat {
        expectClose(value, expected[key]!, tolerance: 1e-5, "pmap data-parallel step\(compiled ? " (compiled)" : ""): \(key)")
    }
}

// MARK: Pipeline parallelism

/// The model cut into one stage per rank and trained with micro-batches (each schedule)
/// against the whole model in one process on the whole batch: the same losses, and each
/// stage's weights equal to the same layers' of the whole model.
func checkPipeline() throws {
    func layers() -> [any Layer] {
        manualSeed(70)
        return [Linear(8, 16), ReLU(), Linear(16, 16), ReLU(), Linear(16, 16), ReLU(), Linear(16, 4)]
    }
    let batch = 12, steps = 3
    manualSeed(14)
    let inputs = Tensor.randomNormal([steps, batch, 8]), labels = Tensor.randomIntegers([steps, batch], high: 4)
    for schedule in Pipeline.Schedule.allCases {
        for microBatches in [1, 4] {
            let whole = Sequential(layers())
            let stage = pipelineStage(layers(), stages: worldSize, stage: rank)
            let pipeline = Pipeline(stage: stage, group: group, microBatches: microBatches, schedule: schedule)
            let wholeOptimizer = SGD(whole.parameters(), lr: 0.1, momentum: 0.9)
            let stageOptimizer = SGD(stage.parameters(), lr: 0.1, momentum: 0.9)
            let what = "pipeline (\(schedule.rawValue), \(microBatches) micro-batches)"
            for s in 0..<steps {
                let x = inputs.narrow(axis: 0, start: s, count: 1).squeezed(axis: 0)
                let y = labels.narrow(axis: 0, start: s, count: 1).squeezed(axis: 0)
                wholeOptimizer.zeroGrad()
                let expected = crossEntropy(logits: whole(x), labels: y)
                expected.backward()
                wholeOptimizer.step()
                stageOptimizer.zeroGrad()
                let loss = try pipeline.step(input: rank == 0 ? x : nil, labels: y, loss: { crossEntropy(logits: $0, labels: $1) })
                stageOptimizer.step()
                // The last stage's loss, on every rank, so that all fail together.
                let lastLoss = loss?.detached().cloned() ?? Tensor.zeros([])
                try group.broadcast(lastLoss, root: worldSize - 1)
                expectClose(lastLoss, expected, tolerance: 1e-5, "\(what): loss of step \(s)")
            }
            // The same cut of the whole model: its layers, trained in one process.
            let expected = pipelineStage(whole.layers, stages: worldSize, stage: rank).parameters()
            for (i, (a, b)) in zip(stage.parameters(), expected).enumerated() {
                expectClose(a, b, tolerance: 1e-5, "\(what): stage \(rank) parameter \(i)")
            }
        }
    }
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
    case "fit-sharded", "fit-resume":
        let directory = URL(fileURLWithPath: CommandLine.arguments.dropFirst(2).first ?? NSTemporaryDirectory())
        for sharding in FitSharding.allCases {
            try check == "fit-sharded" ? checkFitSharded(sharding, directory: directory) : checkFitResume(sharding, directory: directory)
        }
    case "zero":
        try checkZero()
    case "fsdp":
        try checkFSDP()
    case "pipeline":
        try checkPipeline()
    case "pmap":
        try checkPmapCollectives()
        try checkPmapDataParallel(compiled: false)
        try checkPmapDataParallel(compiled: true)
    case "ddp-resnet8-syncbn":
        try checkEquivalence(name: "ResNet-8 with SyncBatchNorm", steps: 3, perRank: 4, inputShape: [3, 8, 8], classes: 10,
                             tolerance: 1e-4, makeModel: { CIFARResNet(depth: 8) },
                             prepare: { convertSyncBatchNorm($0, group: group) })
    default:
        fail("unknown check '\(check)' (collectives, mismatch, timeout, ddp-mlp, ddp-accumulate, ddp-transformer, ddp-join, ddp-resnet8-syncbn, zero, fsdp, pmap, pipeline, fit DIRECTORY, fit-sharded DIRECTORY, fit-resume DIRECTORY)")
    }
} catch {
    fail("\(error)")
}
print("ok \(check) rank \(rank) of \(worldSize)")
