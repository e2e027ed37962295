import Ember

/// ZeRO stage 2's reduction during backward (DeepSpeed's reduce-scatter of gradient
/// buckets): hooks on the parameters collect each one's gradient of the pass into its
/// bucket (parameters in reverse order, about the order backward produces them, as
/// DistributedDataParallel's buckets) and drop it from `grad`; a bucket whose gradients are
/// all in is reduce-scattered (average) at once, asynchronously, while backward goes on.
/// When the pass ends, each rank adds its section of every bucket to its shards' gradients.
/// A rank thus never holds more full gradients than those of the buckets still filling or
/// in flight, and none after backward.
final class ShardedGradientReducer {
    private let parameters: [Tensor]
    private let shards: [Tensor]
    private let group: any ProcessGroup
    /// Per bucket: its parameters (indices into `parameters`) and how they are cut.
    let buckets: [(indices: [Int], layout: ShardLayout)]
    /// Each parameter's bucket and position in it; nil for parameters that need no gradient.
    private var place: [(bucket: Int, position: Int)?]

    // The backward pass in progress.
    private var inBackward = false
    private var gradients: [[Tensor?]] = []
    private var pending: [Int] = []
    private var works: [CollectiveWork?] = []
    private var nextToLaunch = 0
    private var received: [Bool] = []
    /// Parameters whose gradient the engine has just accumulated into `grad`, to drop.
    private var accumulated: [Int] = []

    init(parameters: [Tensor], shards: [Tensor], group: any ProcessGroup, bucketCapacity: Int) {
        self.parameters = parameters
        self.shards = shards
        self.group = group
        let trained = parameters.indices.filter { parameters[$0].requiresGrad }
        let sizes = parameters.map { ($0.count * $0.dtype.byteSize, $0.dtype) }
        let assignment = bucketAssignment(sizes: sizes, order: trained.reversed(), limits: (bucketCapacity, bucketCapacity))
        buckets = assignment.map { indices in
            (indices, ShardLayout(shapes: indices.map { parameters[$0].shape }, dtype: parameters[indices[0]].dtype,
                                  worldSize: group.worldSize))
        }
        place = Array(repeating: nil, count: parameters.count)
        for (b, bucket) in buckets.enumerated() {
            for (position, index) in bucket.indices.enumerated() { place[index] = (b, position) }
        }
        for index in trained {
            parameters[index].registerHook { [weak self] gradient in
                self?.gradientReady(index, gradient)
                return nil
            }
        }
    }

    /// A parameter's gradient of this pass (summed over its uses), before the engine
    /// accumulates it into `grad`: a `grad` set before the pass counts too, and both leave
    /// `grad` at the next hook or at the end of the pass.
    private func gradientReady(_ index: Int, _ gradient: Tensor) {
        if !inBackward { beginBackward() }
        for done in accumulated { parameters[done].grad = nil }
        accumulated = [index]
        guard !received[index], let (b, position) = place[index] else { return }
        received[index] = true
        gradients[b][position] = noGrad { parameters[index].grad.map { $0 + gradient } ?? gradient }
        pending[b] -= 1
        launchReadyBuckets()
    }

    private func beginBackward() {
        inBackward = true
        gradients = buckets.map { [Tensor?](repeating: nil, count: $0.indices.count) }
        pending = buckets.map(\.indices.count)
        works = Array(repeating: nil, count: buckets.count)
        nextToLaunch = 0
        received = Array(repeating: false, count: parameters.count)
        queueBackwardCallback { [self] in finishBackward() }
    }

    /// Starts the reduce-scatter of every complete bucket whose predecessors have started
    /// (the same order on every rank), and lets those in flight progress.
    private func launchReadyBuckets() {
        while nextToLaunch < buckets.count && pending[nextToLaunch] == 0 {
            let stacked = buckets[nextToLaunch].layout.stackedSections(gradients[nextToLaunch])
            gradients[nextToLaunch] = []
            works[nextToLaunch] = stopOnError { try group.startReduceScatter(stacked, op: .average) }
            nextToLaunch += 1
        }
        for work in works[..<nextToLaunch] { _ = stopOnError { try work!.isCompleted } }
    }

    /// At the end of the pass: parameters without a gradient count as zeros in their
    /// buckets, every bucket is reduced, and each rank's sections are added to its shards'
    /// gradients (of the parameters some rank had a gradient for).
    private func finishBackward() {
        defer {
            inBackward = false
            gradients = []
            works = []
        }
        for index in accumulated { parameters[index].grad = nil }
        accumulated = []
        for (b, bucket) in buckets.enumerated() {
            for index in bucket.indices where !received[index] { pending[b] -= 1 }
        }
        launchReadyBuckets()
        precondition(nextToLaunch == buckets.count, "ShardedOptimizer: a gradient bucket was not launched")
        let used = Tensor(received.map { Int32($0 ? 1 : 0) }, shape: [parameters.count])
        stopOnError { try group.allReduce(used, op: .max) }
        let usedSomewhere = used.scalars(as: Int32.self).map { $0 != 0 }
        for (b, bucket) in buckets.enumerated() {
            let mine = stopOnError { try works[b]!.wait() }.reshaped(to: [bucket.layout.sectionSize])
            for (position, index) in bucket.indices.enumerated() where usedSomewhere[index] {
                let chunk = bucket.layout.chunk(position, of: mine)
                shards[index].grad = noGrad { shards[index].grad.map { $0 + chunk } ?? chunk }
            }
        }
    }
}
