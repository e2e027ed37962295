import Ember
import EmberNN

/// Data-parallel training over a process group, PyTorch's `DistributedDataParallel`: each
/// rank runs the wrapped module on its own part of the batch, and after `backward()` every
/// rank holds the gradients averaged over all ranks, as if one process had trained on the
/// whole batch.
///
/// When wrapped, the parameters and buffers of rank 0 are copied to every rank. Gradients
/// are averaged in buckets (the first of `firstBucketCapacity` bytes, the others of
/// `bucketCapacity`, filled with parameters in reverse registration order, the order in
/// which backward usually produces their gradients): a gradient hook copies each gradient
/// into its bucket as soon as it is ready and starts the bucket's asynchronous allreduce as
/// soon as it is full, so communication overlaps the rest of backward. After the first
/// step the buckets are rebuilt once in the order the gradients actually became ready (rank
/// 0's order). Buckets are launched strictly in order, so every rank issues the same
/// collectives. `backward()` returns with the averaged gradients in `grad`.
///
/// `noSync { }` runs forward passes whose backward accumulates gradients locally (gradient
/// accumulation); the next synchronized backward averages the accumulated gradients.
/// `join { }` trains ranks that have different numbers of batches without a hang.
/// Parameters that get no gradient in a backward pass are an error (naming them) unless
/// `findUnusedParameters`: then they count as zero on that rank, and a parameter that no
/// rank used keeps its `grad` as it was. With `broadcastBuffers`, rank 0's buffers
/// (batch-norm running statistics) are copied to every rank before each training forward.
///
/// Collective failures inside backward (ranks that disagree) stop the process with the
/// `CollectiveError`'s message on every rank.
public final class DistributedDataParallel: Module, Layer {
    public let module: any Layer
    public let group: any ProcessGroup
    public let broadcastBuffers: Bool
    private let reducer: GradientReducer
    /// False inside `noSync`.
    private var synchronizesGradients = true
    /// True inside `join`'s body.
    private var joining = false
    /// The highest rank that was still training in the latest step seen inside `join`.
    private var lastTrainingRank: Int?

    public init(_ module: any Layer, group: any ProcessGroup, bucketCapacity: Int = 25 << 20,
                firstBucketCapacity: Int = 1 << 20, findUnusedParameters: Bool = false,
                broadcastBuffers: Bool = true) throws {
        precondition(bucketCapacity > 0 && firstBucketCapacity > 0,
                     "DistributedDataParallel: bucket capacities must be positive, got \(firstBucketCapacity) and \(bucketCapacity)")
        self.module = module
        self.group = group
        self.broadcastBuffers = broadcastBuffers
        let trainable = module.namedParameters().filter { $0.1.requiresGrad }
        reducer = GradientReducer(parameters: trainable.map(\.1), names: trainable.map(\.0), group: group,
                                  findUnusedParameters: findUnusedParameters,
                                  limits: (first: firstBucketCapacity, rest: bucketCapacity))
        super.init()
        try broadcastCoalesced(module.parameters() + module.namedBuffers().map(\.1), from: 0, in: group)
        reducer.registerHooks()
    }

    public var findUnusedParameters: Bool { reducer.findUnusedParameters }

    /// The parameter indices (in registration order) of each bucket, in launch order.
    public var buckets: [[Int]] { reducer.assignment }

    public func forward(_ x: Tensor) -> Tensor {
        forwardPass { module(x) }
    }

    /// Runs `body`, a forward pass of the wrapped module taking any arguments (a model's
    /// named inputs), as `forward` runs one: its backward pass averages the gradients.
    public func forwardPass<Result>(_ body: () -> Result) -> Result {
        // Only a forward pass that records for differentiation is followed by a backward pass.
        let synchronizes = synchronizesGradients && isGradEnabled
        if joining && isTraining {
            stopOnError { try announceStep(training: true, synchronizes: synchronizes) }
        }
        if isTraining { stopOnError { try broadcastBuffersIfNeeded() } }
        reducer.synchronizesNextBackward = synchronizes
        return body()
    }

    private func broadcastBuffersIfNeeded() throws {
        guard broadcastBuffers && group.worldSize > 1 else { return }
        let buffers = module.namedBuffers().map(\.1)
        if !buffers.isEmpty { try broadcastCoalesced(buffers, from: 0, in: group) }
    }

    /// Inside `join`, before each training step: tells the other ranks whether this one still
    /// trains and whether its backward synchronizes; returns whether any rank trains and any
    /// synchronizes.
    private func announceStep(training: Bool, synchronizes: Bool) throws -> (anyTraining: Bool, anySynchronizing: Bool) {
        let flags = Tensor([Int32(training ? 1 : 0), Int32(synchronizes ? 1 : 0), Int32(training ? group.rank : -1)], shape: [3])
        try group.allReduce(flags, op: .max)
        let values = flags.scalars(as: Int32.self)
        if values[0] != 0 { lastTrainingRank = Int(values[2]) }
        return (values[0] != 0, values[1] != 0)
    }

    /// Runs `body`, this rank's training loop, when the ranks may have different numbers of
    /// batches (uneven inputs; PyTorch's `Join`). Each training forward pass inside `body`
    /// first tells the other ranks that this one still trains. Once its `body` has
    /// returned, a rank shadows the collectives of those still training (the buffer
    /// broadcast, the gradient allreduces with zero gradients) until all have finished;
    /// gradients stay divided by the whole world size, so a step that only some ranks take
    /// averages zeros in for the others (PyTorch's default). At the end the parameters and
    /// buffers of the last rank to finish are copied to every rank; optimizer state stays
    /// per rank. Every rank must call `join`; not with SyncBatchNorm, whose forward pass
    /// exchanges statistics that a finished rank cannot make up (as in PyTorch).
    public func join<R>(_ body: () throws -> R) throws -> R {
        precondition(!joining, "DistributedDataParallel.join: already inside join")
        if let synchronized = module.namedModules().first(where: { ($0.1 as? BatchNorm)?.synchronizer != nil }) {
            throw CollectiveError(rank: group.rank, collective: "join",
                                  problem: "'\(synchronized.0)' is a SyncBatchNorm, whose statistics a rank without inputs cannot "
                                      + "supply; give every rank the same number of batches (DistributedSampler does)")
        }
        lastTrainingRank = nil
        joining = true
        let result: R
        do {
            defer { joining = false }
            result = try body()
        }
        while true {
            let step = try announceStep(training: false, synchronizes: false)
            if !step.anyTraining { break }
            if isTraining { try broadcastBuffersIfNeeded() }
            if step.anySynchronizing { try reducer.shadowBackward() }
        }
        if let lastTrainingRank {
            try broadcastCoalesced(module.parameters() + module.namedBuffers().map(\.1), from: lastTrainingRank, in: group)
        }
        return result
    }

    /// Runs `body` (forward and backward passes) with gradients accumulated locally, not
    /// averaged across ranks (PyTorch's `no_sync`).
    public func noSync<R>(_ body: () throws -> R) rethrows -> R {
        let saved = synchronizesGradients
        synchronizesGradients = false
        defer { synchronizesGradients = saved }
        return try body()
    }
}

/// Copies `tensors` from rank `root` to every rank, one broadcast per dtype.
public func broadcastCoalesced(_ tensors: [Tensor], from root: Int, in group: any ProcessGroup) throws {
    guard group.worldSize > 1 else { return }
    for dtype in DType.allCases {
        let members = tensors.filter { $0.dtype == dtype }
        guard !members.isEmpty else { continue }
        let flat = noGrad { Tensor.concatenate(members.map { $0.detached().reshaped(to: [-1]) }) }
        try group.broadcast(flat, root: root)
        var offset = 0
        noGrad {
            for tensor in members {
                tensor.assign(flat.narrow(axis: 0, start: offset, count: tensor.count).reshaped(to: tensor.shape))
                offset += tensor.count
            }
        }
    }
}

/// Stops the process with the error's message: for collective failures inside a forward or
/// backward pass, which cannot throw. Every rank that sees the disagreement stops with it.
@discardableResult
func stopOnError<R>(_ body: () throws -> R) -> R {
    do {
        return try body()
    } catch {
        fatalError("\(error)")
    }
}

/// The gradient hooks and buckets of a `DistributedDataParallel` (PyTorch's Reducer).
final class GradientReducer {
    let parameters: [Tensor]
    let names: [String]
    let group: any ProcessGroup
    let findUnusedParameters: Bool
    let limits: (first: Int, rest: Int)
    /// Parameter indices per bucket, in launch order.
    private(set) var assignment: [[Int]]
    private var rebuilt = false
    var synchronizesNextBackward = false

    // The backward pass in progress.
    private var inBackward = false
    private var buckets: [GradientBucket] = []
    private var bucketOfParameter: [Int] = []
    private var received: [Bool] = []
    private var readyOrder: [Int] = []
    private var nextToLaunch = 0

    init(parameters: [Tensor], names: [String], group: any ProcessGroup, findUnusedParameters: Bool,
         limits: (first: Int, rest: Int)) {
        self.parameters = parameters
        self.names = names
        self.group = group
        self.findUnusedParameters = findUnusedParameters
        self.limits = limits
        assignment = []
        assign(order: Array(parameters.indices.reversed()))
    }

    private func assign(order: [Int]) {
        let sizes = parameters.map { ($0.count * $0.dtype.byteSize, $0.dtype) }
        assignment = bucketAssignment(sizes: sizes, order: order, limits: limits)
        bucketOfParameter = Array(repeating: 0, count: parameters.count)
        for (bucket, members) in assignment.enumerated() {
            for index in members { bucketOfParameter[index] = bucket }
        }
    }

    func registerHooks() {
        for (index, parameter) in parameters.enumerated() {
            parameter.registerHook { [weak self] gradient in
                self?.gradientReady(index, gradient)
                return nil
            }
        }
    }

    /// A parameter's gradient of this pass, summed over its uses, before it is accumulated
    /// into `grad`: its bucket receives what `grad` will hold.
    private func gradientReady(_ index: Int, _ gradient: Tensor) {
        guard synchronizesNextBackward else { return }
        if !inBackward { beginBackward() }
        guard !received[index] else { return }
        received[index] = true
        readyOrder.append(index)
        let bucket = buckets[bucketOfParameter[index]]
        let total = noGrad { parameters[index].grad.map { $0 + gradient } ?? gradient }
        bucket.views[index]!.assign(total)
        bucket.pending -= 1
        launchReadyBuckets()
    }

    private func beginBackward() {
        inBackward = true
        buckets = assignment.map { GradientBucket(parameters: $0, of: parameters) }
        received = Array(repeating: false, count: parameters.count)
        readyOrder = []
        nextToLaunch = 0
        queueBackwardCallback { [self] in finishBackward() }
    }

    /// Starts the allreduce of every full bucket whose predecessors have started, and lets
    /// those in flight progress.
    private func launchReadyBuckets() {
        while nextToLaunch < buckets.count && buckets[nextToLaunch].isReady {
            let bucket = buckets[nextToLaunch]
            bucket.work = stopOnError { try group.startAllReduce(bucket.buffer, op: .average) }
            nextToLaunch += 1
        }
        for bucket in buckets[..<nextToLaunch] { _ = stopOnError { try bucket.work!.isCompleted } }
    }

    /// The collectives of a synchronized backward pass, for a rank that has run out of
    /// inputs inside `join`: every bucket's allreduce of zero gradients, in order, and what
    /// follows it.
    func shadowBackward() throws {
        for members in assignment {
            let first = parameters[members[0]]
            let zeros = Tensor.zeros([members.reduce(0) { $0 + parameters[$1].count }], dtype: first.dtype)
            try group.allReduce(zeros, op: .average)
        }
        if findUnusedParameters {
            try group.allReduce(Tensor.zeros([parameters.count], dtype: .int32), op: .max)
        }
        if !rebuilt && !findUnusedParameters {
            rebuilt = true
            let order = Tensor(assignment.joined().map(Int64.init), shape: [parameters.count])
            try group.broadcast(order, root: 0)
            assign(order: order.scalars(as: Int64.self).map { Int($0) })
        }
    }

    /// At the end of backward: the buckets of unused parameters are completed and launched,
    /// all allreduces waited for, and the averaged gradients put in `grad`.
    private func finishBackward() {
        defer {
            inBackward = false
            synchronizesNextBackward = false
            buckets = []
        }
        let missing = parameters.indices.filter { !received[$0] }
        if !missing.isEmpty {
            guard findUnusedParameters else {
                fatalError("DistributedDataParallel: rank \(group.rank): parameters received no gradient in this backward pass: "
                    + missing.map { names[$0] }.joined(separator: ", ")
                    + ". Make every parameter take part in the loss, freeze the unused ones, or pass findUnusedParameters: true")
            }
            for index in missing {
                let bucket = buckets[bucketOfParameter[index]]
                let parameter = parameters[index]
                bucket.views[index]!.assign(parameter.grad ?? Tensor.zeros(parameter.shape, dtype: parameter.dtype))
                bucket.pending -= 1
            }
            launchReadyBuckets()
        }
        precondition(nextToLaunch == buckets.count, "DistributedDataParallel: a bucket was not launched")
        // Which parameters some rank used, so that those used nowhere keep their gradient.
        var usedSomewhere: [Bool]?
        if findUnusedParameters {
            let used = Tensor(received.map { Int32($0 ? 1 : 0) }, shape: [parameters.count])
            stopOnError { try group.allReduce(used, op: .max) }
            usedSomewhere = used.scalars(as: Int32.self).map { $0 != 0 }
        }
        for bucket in buckets {
            stopOnError { try bucket.work!.wait() }
            for index in bucket.parameters where usedSomewhere?[index] ?? true {
                parameters[index].grad = bucket.views[index]!
            }
        }
        if !rebuilt && !findUnusedParameters {
            rebuilt = true
            // Rank 0's order, so that every rank builds the same buckets.
            let order = Tensor((readyOrder + missing).map(Int64.init), shape: [parameters.count])
            stopOnError { try group.broadcast(order, root: 0) }
            assign(order: order.scalars(as: Int64.self).map { Int($0) })
        }
    }
}
