import Ember
import EmberOptim

/// What a `ShardedOptimizer` shards across ranks (the stages of ZeRO, Rajbhandari et al. 2020).
public enum ZeroStage: Int, Sendable {
    /// Stage 1: each rank keeps the optimizer state of its shard only; gradients are
    /// averaged in full on every rank (allreduce), as with DistributedDataParallel.
    case optimizerState = 1
    /// Stage 2: gradients too: they are reduce-scattered so that each rank receives the
    /// average of its shard only, and the full gradients are dropped (during backward, by
    /// default: `ShardedOptimizer`'s `reduceDuringBackward`).
    case gradients = 2
}

/// Data-parallel training with the optimizer state (and, at stage 2, the gradients)
/// sharded across the ranks of a group: ZeRO stages 1 and 2 (DeepSpeed; PyTorch's
/// `ZeroRedundancyOptimizer` is stage 1).
///
/// Every rank runs forward and backward on its own part of the batch with the full
/// parameters and leaves its local gradients in `grad` (no DistributedDataParallel wrapper is
/// needed: this optimizer averages them). `step()` averages the gradients across ranks,
/// updates rank r's chunk of every parameter with the wrapped optimizer, whose state
/// therefore covers 1/worldSize of the elements, and all-gathers the updated chunks into
/// every rank's parameters. Every EmberOptim optimizer updates each element from that
/// element's own gradient and state, so the result equals one process training on the
/// whole batch. Learning-rate schedules drive it like any optimizer; `clipGradNorm` clips by
/// the norm of the whole (averaged) gradient, computed across the shards.
///
/// A parameter that got no gradient on any rank is skipped, as a plain optimizer skips it;
/// one that got a gradient on some ranks only counts as zero on the others.
/// `stateDict()` gathers the full state (the same keys, shapes and steps as the wrapped
/// optimizer alone would save, so it loads at any world size, or into a plain optimizer),
/// and `loadStateDict` takes such a state on every rank and keeps this rank's chunks.
/// Every rank must call `step`, `clipGradNorm`, `stateDict` and `loadStateDict` together:
/// they are collectives.
///
/// At stage 2 the gradients are reduce-scattered during backward by default: hooks collect
/// them into buckets of about `bucketCapacity` bytes, each reduce-scattered as soon as it is
/// complete, and dropped, so that after backward a rank holds only its shards' gradients
/// (every backward pass through the parameters is reduced; passes before one step add up).
/// With `reduceDuringBackward: false` they are reduce-scattered once, when `step()` (or
/// `clipGradNorm`) runs: fewer collectives when several backward passes accumulate, but a
/// rank holds its full local gradients until then. Gradients put in `grad` by hand are
/// reduced at the step either way.
public final class ShardedOptimizer<Options: OptimizerOptions>: OptimizerProtocol {
    public let group: any ProcessGroup
    public let stage: ZeroStage
    /// The full parameters, in order across the groups.
    public let parameters: [Tensor]
    /// The wrapped optimizer, over this rank's chunk of each parameter.
    public let shardOptimizer: Optimizer<Options>
    /// Per dtype: which parameters (indices into `parameters`) and how they are cut.
    private let layouts: [(indices: [Int], layout: ShardLayout)]
    /// Per dtype: this rank's section, whose chunks are `shards`.
    private let sections: [Tensor]
    /// This rank's chunk of each parameter (a view into its section).
    public let shards: [Tensor]
    /// Whether the gradients of this step have been averaged into the shards yet.
    private var gradientsReduced = false
    /// Stage 2's reduction during backward, when it is on.
    private var backwardReducer: ShardedGradientReducer?

    /// Wraps the optimizer `make` builds over the shards of `groups` (for example
    /// `{ Adam(groups: $0) }`). The parameters of rank 0 are first copied to every rank.
    /// `reduceDuringBackward` and `bucketCapacity` (bytes) apply to stage 2.
    public init(groups: [ParameterGroup<Options>], group: any ProcessGroup, stage: ZeroStage = .gradients,
                reduceDuringBackward: Bool = true, bucketCapacity: Int = 25 << 20,
                make: ([ParameterGroup<Options>]) -> Optimizer<Options>) throws {
        precondition(bucketCapacity > 0, "ShardedOptimizer: bucketCapacity must be positive, got \(bucketCapacity)")
        self.group = group
        self.stage = stage
        parameters = groups.flatMap(\.parameters)
        try broadcastCoalesced(parameters, from: 0, in: group)
        layouts = shardLayouts(of: parameters, worldSize: group.worldSize)
        let parameters = self.parameters, rank = group.rank
        var shards = [Tensor?](repeating: nil, count: parameters.count)
        var sections = [Tensor]()
        for (indices, layout) in layouts {
            let section = layout.section(of: indices.map { parameters[$0] }, rank: rank)
            sections.append(section)
            for (position, index) in indices.enumerated() { shards[index] = layout.chunk(position, of: section) }
        }
        self.sections = sections
        let allShards = shards.map { $0! }
        self.shards = allShards
        var next = 0
        shardOptimizer = make(groups.map { parameterGroup in
            defer { next += parameterGroup.parameters.count }
            return ParameterGroup(Array(allShards[next..<next + parameterGroup.parameters.count]), parameterGroup.options)
        })
        precondition(shardOptimizer.parameterGroups.map(\.parameters.count) == groups.map(\.parameters.count),
                     "ShardedOptimizer: the optimizer made must keep the groups it was given")
        if stage == .gradients && reduceDuringBackward {
            backwardReducer = ShardedGradientReducer(parameters: parameters, shards: allShards, group: group,
                                                     bucketCapacity: bucketCapacity)
        }
    }

    /// One group of parameters with one set of options.
    public convenience init(_ parameters: [Tensor], options: Options, group: any ProcessGroup, stage: ZeroStage = .gradients,
                            reduceDuringBackward: Bool = true, bucketCapacity: Int = 25 << 20,
                            make: ([ParameterGroup<Options>]) -> Optimizer<Options>) throws {
        try self.init(groups: [ParameterGroup(parameters, options)], group: group, stage: stage,
                      reduceDuringBackward: reduceDuringBackward, bucketCapacity: bucketCapacity, make: make)
    }

    /// Stage 2's gradient buckets (parameter indices), in the order they are reduced during
    /// backward; empty when gradients are reduced at the step.
    public var buckets: [[Int]] { backwardReducer?.buckets.map(\.indices) ?? [] }

    /// Averages this step's gradients across ranks into the shards' `grad` (once per step):
    /// at stage 2, those still in the parameters' `grad` are added to the shards' (which
    /// hold what backward reduced already).
    private func reduceGradients() throws {
        guard !gradientsReduced else { return }
        gradientsReduced = true
        // Which parameters some rank has a gradient for: the others stay without one.
        let used = Tensor(parameters.map { Int32($0.grad == nil ? 0 : 1) }, shape: [parameters.count])
        try group.allReduce(used, op: .max)
        let usedSomewhere = used.scalars(as: Int32.self).map { $0 != 0 }
        for (indices, layout) in layouts where stage == .optimizerState || indices.contains(where: { usedSomewhere[$0] }) {
            let stacked = layout.stackedSections(indices.map { parameters[$0].grad })
            switch stage {
            case .optimizerState:
                try group.allReduce(stacked, op: .average)
                // A copy, so that the full stacked buffer is not kept alive by the shards' views.
                let mine = stacked.narrow(axis: 0, start: group.rank, count: 1).reshaped(to: [layout.sectionSize]).cloned()
                for (position, index) in indices.enumerated() {
                    if usedSomewhere[index] { parameters[index].grad = layout.tensor(position, fromSections: stacked) }
                    shards[index].grad = usedSomewhere[index] ? layout.chunk(position, of: mine) : nil
                }
            case .gradients:
                let mine = try group.reduceScatter(stacked, op: .average).reshaped(to: [layout.sectionSize])
                for (position, index) in indices.enumerated() {
                    parameters[index].grad = nil
                    guard usedSomewhere[index] else { continue }
                    let chunk = layout.chunk(position, of: mine)
                    shards[index].grad = noGrad { shards[index].grad.map { $0 + chunk } ?? chunk }
                }
            }
        }
    }

    /// Averages the gradients, updates this rank's chunks and gathers every parameter.
    public func step() {
        stopOnError {
            // The parameters are the reference copy: they may have been changed (a loaded state dict).
            noGrad {
                for ((indices, layout), section) in zip(layouts, sections) {
                    section.assign(layout.section(of: indices.map { parameters[$0] }, rank: group.rank))
                }
            }
            try reduceGradients()
            shardOptimizer.step()
            gradientsReduced = false
            for ((indices, layout), section) in zip(layouts, sections) {
                let stacked = try layout.allGather(section, in: group)
                noGrad {
                    for (position, index) in indices.enumerated() {
                        parameters[index].assign(layout.tensor(position, fromSections: stacked))
                    }
                }
            }
        }
    }

    /// Scales the averaged gradients so that their total `normType`-norm over all parameters
    /// is at most `maxNorm`, and returns the norm before clipping (`clipGradNorm`'s
    /// semantics), from each rank's shards and one allreduce.
    @discardableResult
    public func clipGradNorm(maxNorm: Double, normType: Double = 2) throws -> Tensor {
        precondition(normType > 0 && maxNorm >= 0, "ShardedOptimizer.clipGradNorm: needs normType > 0 and maxNorm >= 0")
        try reduceGradients()
        let gradients = shards.compactMap(\.grad)
        // This rank's part of the norm, in float64: a sum of p-th powers (or a maximum).
        let partial: Tensor = noGrad {
            let pieces = gradients.map { g -> Tensor in
                let g = g.cast(to: .float64)
                switch normType {
                case .infinity: return g.abs().max()
                case 2: return (g * g).sum()
                case 1: return g.abs().sum()
                default: return pow(g.abs(), normType).sum()
                }
            }
            guard !pieces.isEmpty else { return Tensor.zeros([1], dtype: .float64) }
            let stacked = Tensor.stack(pieces)
            return (normType == .infinity ? stacked.max() : stacked.sum()).reshaped(to: [1]).contiguous()
        }
        try group.allReduce(partial, op: normType == .infinity ? .max : .sum)
        return noGrad {
            let total = normType == .infinity ? partial.reshaped(to: []) : pow(partial.reshaped(to: []), 1 / normType)
            let scale = (maxNorm / (total + 1e-6)).clamp(max: 1)
            for shard in shards {
                if let g = shard.grad { shard.grad = g * scale.cast(to: g.dtype) }
            }
            if stage == .optimizerState {
                for parameter in parameters {
                    if let g = parameter.grad { parameter.grad = g * scale.cast(to: g.dtype) }
                }
            }
            return total.cast(to: parameters.first?.dtype ?? .float32)
        }
    }

    public func zeroGrad(setToNone: Bool) {
        for tensor in parameters + shards {
            tensor.grad = setToNone ? nil : tensor.grad.map { Tensor.zeros(like: $0) }
        }
        gradientsReduced = false
    }

    public var learningRates: [Double] {
        get { shardOptimizer.learningRates }
        set { shardOptimizer.learningRates = newValue }
    }

    public var momenta: [Double?] {
        get { shardOptimizer.momenta }
        set { shardOptimizer.momenta = newValue }
    }

    /// The full state, gathered from every rank's shards: what the wrapped optimizer alone
    /// over the full parameters would save. A collective: every rank must call it (each
    /// gets the whole state; rank 0 writes it).
    public func stateDict() -> OptimizerState {
        stopOnError { try consolidatedStateDict() }
    }

    private func consolidatedStateDict() throws -> OptimizerState {
        let local = shardOptimizer.stateDict()
        var info = local.info
        var tensors = [String: Tensor]()
        var groupOf = [Int](), positionInGroup = [Int]()
        for (g, savedGroup) in info.groups.enumerated() {
            for k in savedGroup.shapes.indices {
                groupOf.append(g)
                positionInGroup.append(k)
            }
        }
        for index in parameters.indices { info.groups[groupOf[index]].shapes[positionInGroup[index]] = parameters[index].shape }
        // One all-gather per layout of every buffer of its parameters, in a fixed key order.
        for (indices, layout) in layouts {
            let keys = local.tensors.keys.filter { key in
                indices.contains(Int(key.split(separator: ".")[1])!)
            }.sorted()
            guard !keys.isEmpty else { continue }
            let flat = noGrad { Tensor.concatenate(keys.map { local.tensors[$0]!.cast(to: layout.dtype).reshaped(to: [-1]) }) }
            let stacked = try group.allGather(flat)
            var offset = 0
            for key in keys {
                let index = Int(key.split(separator: ".")[1])!
                let position = indices.firstIndex(of: index)!
                let chunk = layout.chunks[position]
                let pieces = stacked.narrow(axis: 1, start: offset, count: chunk)
                offset += chunk
                tensors[key] = noGrad {
                    pieces.reshaped(to: [layout.worldSize * chunk]).narrow(axis: 0, start: 0, count: layout.counts[position])
                        .reshaped(to: parameters[index].shape).contiguous()
                }
            }
        }
        return OptimizerState(tensors: tensors, info: info)
    }

    /// Loads a full state (saved by `stateDict()` at any world size, or by the wrapped
    /// optimizer alone over the same parameters): every rank passes the whole state and
    /// keeps its chunks. Throws, changing nothing, when it does not fit.
    public func loadStateDict(_ saved: OptimizerState) throws(OptimizerError) {
        var info = saved.info
        guard info.groups.map(\.shapes.count) == shardOptimizer.parameterGroups.map(\.parameters.count) else {
            throw OptimizerError("loadStateDict: the state has groups of \(info.groups.map(\.shapes.count)) parameters, this optimizer \(shardOptimizer.parameterGroups.map(\.parameters.count))")
        }
        var index = 0
        for g in info.groups.indices {
            for k in info.groups[g].shapes.indices {
                guard info.groups[g].shapes[k] == parameters[index].shape else {
                    throw OptimizerError("loadStateDict: parameter \(index) has shape \(parameters[index].shape), the state's has shape \(info.groups[g].shapes[k])")
                }
                info.groups[g].shapes[k] = shards[index].shape
                index += 1
            }
        }
        var tensors = [String: Tensor]()
        for parameterIndex in parameters.indices {
            for (key, tensor) in saved.tensors where key.hasPrefix("state.\(parameterIndex).") {
                guard tensor.shape == parameters[parameterIndex].shape else {
                    throw OptimizerError("loadStateDict: state tensor '\(key)' has shape \(tensor.shape), parameter \(parameterIndex) has shape \(parameters[parameterIndex].shape)")
                }
                let single = ShardLayout(shapes: [tensor.shape], dtype: tensor.dtype, worldSize: group.worldSize)
                tensors[key] = single.section(of: [tensor], rank: group.rank)
            }
        }
        if let unexpected = saved.tensors.keys.first(where: { tensors[$0] == nil }) {
            throw OptimizerError("loadStateDict: unexpected state tensor '\(unexpected)' (expected state.<index>.<name> with index below \(parameters.count))")
        }
        try shardOptimizer.loadStateDict(OptimizerState(tensors: tensors, info: info))
    }
}
