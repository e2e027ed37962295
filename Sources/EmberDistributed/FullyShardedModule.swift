import Ember
import EmberNN

/// One unit of fully sharded data parallelism (ZeRO stage 3, PyTorch's FSDP): the wrapped
/// layer's parameters live sharded across the ranks of a group, and each rank holds only its
/// chunk of each (flattened, padded to a multiple of the world size: `ShardLayout`).
///
/// The layer is the unit's child under the empty key, so the unit's parameter and state keys
/// are the layer's own; between calls its parameter slots hold this rank's chunks.
///
/// A call all-gathers the full parameters, runs the layer without recording its operations,
/// and lets the full parameters go. Backward all-gathers them again, recomputes the layer's
/// forward pass from its saved input (as FSDP with activation checkpointing does, so neither
/// the full parameters nor the layer's inner activations stay alive between forward and
/// backward), differentiates it, and reduce-scatters the parameter gradients: each rank's
/// chunks receive the gradient averaged over the ranks, so that an ordinary optimizer over
/// `parameters()` (the chunks) trains the model as DistributedDataParallel would.
///
/// Units made by `fullyShard` prefetch: a unit's forward pass starts the all-gather of the
/// next unit's parameters (asynchronously) before computing, and its backward pass that of
/// the previous unit, which is used next in backward; the neighbour then waits for it
/// instead of starting its own. (Open MPI moves a non-blocking collective on mostly inside
/// MPI calls, so how much of the transfer overlaps the computation depends on the transport.)
///
/// The recomputed forward pass draws the same random numbers as the first (the global
/// generator is rewound to where the forward pass started), so dropout works. Buffers (batch
/// norm statistics) stay whole on every rank. Parameters tied to a tensor outside the unit
/// cannot be sharded: wrap the modules that share them in one unit.
///
/// A unit may contain units (`fullyShard(_:group:policy:)` puts them in the layer's tree
/// with `replaceModule`); it then shards only the parameters outside them and keeps its
/// gathered parameters from forward to backward instead of recomputing (`reshardsAfterForward`
/// false, as PyTorch's root unit), so that the inner units' own backward passes run once.
public final class FullyShardedModule: Module, Layer {
    /// The layer, a child under the empty key.
    private let child: Child<Module>
    private var module: Module { child.wrappedValue }
    public let group: any ProcessGroup
    /// Whether the full parameters are let go after the forward pass and gathered again for
    /// a recomputation in backward (true), or kept by the autograd graph until backward.
    public let reshardsAfterForward: Bool
    /// The names of the parameters this unit shards (not those of units inside it), in the
    /// layer's `namedParameters()` order.
    public let parameterNames: [String]
    private let layouts: [(indices: [Int], layout: ShardLayout)]
    /// This rank's chunk of each parameter, in `parameterNames` order.
    public let shards: [Tensor]
    private var call: (([Tensor]) -> [Tensor])!
    /// The full parameters from the shards, differentiably (backward reduce-scatters).
    private var gather: (([Tensor]) -> [Tensor])!
    /// The units used before and after this one in a `fullyShard` model, whose all-gathers
    /// this one's backward and forward passes prefetch (in a struct, outside the module tree).
    struct Neighbours {
        weak var previous: FullyShardedModule?
        weak var next: FullyShardedModule?
    }
    var neighbours = Neighbours()
    /// The all-gathers of this unit's sections started by a neighbour, not yet waited for.
    private var prefetched: [CollectiveWork]?
    /// How many of this unit's all-gathers a neighbour prefetched (for tests and profiles).
    public private(set) var prefetchesUsed = 0
    /// The generator's state when a training forward pass began, by its input (held weakly:
    /// an entry whose input is gone had no backward pass), for the recomputation in backward.
    private struct StartingState {
        weak var input: Tensor?
        let state: (key: UInt64, position: UInt64)
    }
    private var generatorStates: [ObjectIdentifier: StartingState] = [:]

    /// Shards `layer`'s parameters (rank 0's values) across `group` and releases the full
    /// ones; those of units already inside `layer` stay theirs.
    public init(_ layer: any Layer, group: any ProcessGroup, reshardsAfterForward: Bool = true) throws {
        let inner = layer.namedModules().compactMap { $0.1 as? FullyShardedModule }
        precondition(!reshardsAfterForward || inner.isEmpty,
                     "FullyShardedModule: a unit that contains units (here \(inner.count)) keeps its parameters from forward to backward: pass reshardsAfterForward: false")
        let innerTensors = Set(inner.flatMap { $0.layer.namedParameters().map(\.1) + $0.layer.namedBuffers().map(\.1) }.map(ObjectIdentifier.init))
        let named = layer.namedParameters().filter { !innerTensors.contains(ObjectIdentifier($0.1)) }
        let buffers = layer.namedBuffers().map(\.1).filter { !innerTensors.contains(ObjectIdentifier($0)) }
        try broadcastCoalesced(named.map(\.1) + buffers, from: 0, in: group)
        child = Child(wrappedValue: layer, key: "")
        self.group = group
        self.reshardsAfterForward = reshardsAfterForward
        parameterNames = named.map(\.0)
        layouts = shardLayouts(of: named.map(\.1), worldSize: group.worldSize)
        var shards = [Tensor?](repeating: nil, count: named.count)
        for (indices, layout) in layouts {
            let section = layout.section(of: indices.map { named[$0].1 }, rank: group.rank)
            for (position, index) in indices.enumerated() {
                shards[index] = layout.chunk(position, of: section).contiguous().requiringGrad(named[index].1.requiresGrad)
            }
        }
        self.shards = shards.map { $0! }
        super.init()
        // The chunks take the full tensors' places (tied slots included), which are released.
        layer.replaceState(Dictionary(uniqueKeysWithValues: zip(parameterNames, self.shards)))
        gather = customVJP({ [unowned self] inputs in
                               // Traced for the output specs only: stand-ins of the full shapes.
                               inputs[0].isAbstract ? standIns(from: inputs) : stopOnError { try fullParameters() } },
                           backward: { [unowned self] _, _, cotangents in reduceScatter(cotangents) },
                           name: "fully_sharded_gather")
        call = customVJP({ [unowned self] inputs in forwardPass(inputs) },
                         backward: { [unowned self] inputs, _, cotangents in backwardPass(inputs, cotangents[0]) },
                         name: "fully_sharded")
    }

    /// The wrapped layer (its parameters are this rank's chunks outside `withFullParameters`).
    public var layer: any Layer { module as! any Layer }

    public func forward(_ x: Tensor) -> Tensor {
        if reshardsAfterForward { return call([x] + shards)[0] }
        if x.isAbstract { return forwardPass([x] + shards)[0] }
        // Recorded: the graph keeps the gathered parameters, and the inner units' calls.
        let full = shards.isEmpty ? [] : gather(shards)
        return layer.withState(Dictionary(uniqueKeysWithValues: zip(parameterNames, full))) { layer.callingOwnForward { layer(x) } }
    }

    /// The full parameters, gathered from every rank's chunks (a collective), or the
    /// gathers a neighbour prefetched.
    public func fullParameters() throws -> [Tensor] {
        let works: [CollectiveWork]
        if let prefetched {
            works = prefetched
            self.prefetched = nil
            prefetchesUsed += 1
        } else {
            works = try startGathers()
        }
        var full = [Tensor?](repeating: nil, count: shards.count)
        for ((indices, layout), work) in zip(layouts, works) {
            let stacked = try work.wait().reshaped(to: [layout.worldSize, layout.sectionSize])
            for (position, index) in indices.enumerated() { full[index] = layout.tensor(position, fromSections: stacked).contiguous() }
        }
        return full.map { $0! }
    }

    /// Starts the all-gather of each section of this unit's chunks.
    private func startGathers() throws -> [CollectiveWork] {
        try layouts.map { indices, _ in
            try group.startAllGather(noGrad { Tensor.concatenate(indices.map { shards[$0].detached() }) })
        }
    }

    /// Starts this unit's all-gathers for its next use, unless they are under way.
    private func prefetch() {
        guard prefetched == nil, !layouts.isEmpty else { return }
        prefetched = stopOnError { try startGathers() }
    }

    /// Runs `body` with the wrapped layer holding its full parameters (a collective; for
    /// evaluation, export or a consolidated state dict).
    public func withFullParameters<R>(_ body: (any Layer) throws -> R) throws -> R {
        let full = try fullParameters()
        return try layer.withState(Dictionary(uniqueKeysWithValues: zip(parameterNames, full))) { try body(layer) }
    }

    /// The wrapped layer's state dict with full parameters (those of inner units too), on
    /// every rank (a collective).
    public func fullStateDict() throws -> [String: Tensor] {
        try withFullParameters { _ in try consolidatedStateDict(of: module).mapValues { $0.contiguous() } }
    }

    /// The full shape of each parameter, in `parameterNames` order.
    public var fullParameterShapes: [[Int]] { layerShapes().map(\.shape) }

    /// The shapes of `fullStateDict()`, found without communicating.
    public func fullStateShapes() -> [String: [Int]] {
        var shapes = consolidatedStateShapes(of: module)
        // By tensor, so that a tied slot (another name for a chunk) gets the full shape too.
        let fullShapes = Dictionary(uniqueKeysWithValues: zip(shards.map(ObjectIdentifier.init), layerShapes().map(\.shape)))
        for (key, tensor) in module.stateDict() {
            if let shape = fullShapes[ObjectIdentifier(tensor)] { shapes[key] = shape }
        }
        return shapes
    }

    /// Loads a full state dict of the wrapped layer (a collective): every rank keeps its chunks.
    public func loadFullStateDict(_ state: [String: Tensor]) throws {
        let full = try fullParameters()
        try layer.withState(Dictionary(uniqueKeysWithValues: zip(parameterNames, full))) {
            try loadConsolidatedStateDict(state, into: module)
        }
        for (indices, layout) in layouts {
            let section = layout.section(of: indices.map { full[$0] }, rank: group.rank)
            noGrad {
                for (position, index) in indices.enumerated() { shards[index].assign(layout.chunk(position, of: section)) }
            }
        }
    }

    /// The layer's output for inputs [x] + shards.
    private func forwardPass(_ inputs: [Tensor]) -> [Tensor] {
        let x = inputs[0]
        // Traced for the output's shape only: stand-ins of the full shapes will do.
        if x.isAbstract {
            let standIns = zip(parameterNames, standIns(from: Array(inputs.dropFirst())))
            return [layer.withState(Dictionary(uniqueKeysWithValues: standIns)) { layer.callingOwnForward { layer(x) } }]
        }
        if isTraining {
            generatorStates = generatorStates.filter { $0.value.input != nil }
            generatorStates[ObjectIdentifier(x)] = StartingState(input: x, state: Generator.global.state)
        }
        let full = stopOnError { try fullParameters() }
        neighbours.next?.prefetch()
        return [noGrad { layer.withState(Dictionary(uniqueKeysWithValues: zip(parameterNames, full))) { layer.callingOwnForward { layer(x) } } }]
    }

    /// The cotangents of [x] + shards: the layer recomputed with the full parameters,
    /// differentiated, and its parameter gradients reduce-scattered to their owners.
    private func backwardPass(_ inputs: [Tensor], _ cotangent: Tensor) -> [Tensor] {
        let x = inputs[0]
        let full = stopOnError { try fullParameters() }
        // The previous unit's backward comes next only when it has something to differentiate.
        if let previous = neighbours.previous, previous.shards.contains(where: \.requiresGrad) { previous.prefetch() }
        let current = Generator.global.state
        if let started = generatorStates.removeValue(forKey: ObjectIdentifier(x))?.state { Generator.global.state = started }
        defer { Generator.global.state = current }
        let differentiatesInput = x.dtype.isFloatingPoint
        let (_, pullback) = vjp({ [self] variables in
            let parameters = differentiatesInput ? Array(variables.dropFirst()) : variables
            return layer.withState(Dictionary(uniqueKeysWithValues: zip(parameterNames, parameters))) {
                layer.callingOwnForward { layer(differentiatesInput ? variables[0] : x) }
            }
        }, differentiatesInput ? [x] + full : full)
        let gradients = pullback(cotangent)
        let parameterGradients = differentiatesInput ? Array(gradients.dropFirst()) : gradients
        return [differentiatesInput ? gradients[0] : Tensor.zeros(x.shape)] + reduceScatter(parameterGradients)
    }

    /// Each rank's chunks of the full parameters' gradients, averaged over the ranks.
    private func reduceScatter(_ parameterGradients: [Tensor]) -> [Tensor] {
        var shardGradients = [Tensor?](repeating: nil, count: shards.count)
        for (indices, layout) in layouts {
            let stacked = layout.stackedSections(indices.map { parameterGradients[$0] })
            let mine = stopOnError { try group.reduceScatter(stacked, op: .average) }.reshaped(to: [layout.sectionSize])
            for (position, index) in indices.enumerated() { shardGradients[index] = layout.chunk(position, of: mine) }
        }
        return shardGradients.map { $0! }
    }

    /// Tensors of the full parameters' shapes made from the chunks (abstract while the output
    /// specs are traced) by shape operations alone. Concrete stand-ins (zeros) would stay
    /// among the constants of the traced graph, which the custom function keeps: a full copy
    /// of the unit's parameters on every rank for as long as the unit lives.
    private func standIns(from chunks: [Tensor]) -> [Tensor] {
        zip(chunks, layerShapes()).map { chunk, full in
            let flat = Tensor.concatenate(Array(repeating: chunk.reshaped(to: [-1]), count: group.worldSize))
            return flat.narrow(axis: 0, start: 0, count: full.shape.reduce(1, *)).reshaped(to: full.shape)
        }
    }

    /// The full shapes and dtypes of the parameters, in `parameterNames` order.
    private func layerShapes() -> [(shape: [Int], dtype: DType)] {
        var result = [(shape: [Int], dtype: DType)?](repeating: nil, count: shards.count)
        for (indices, layout) in layouts {
            for (position, index) in indices.enumerated() { result[index] = (layout.shapes[position], layout.dtype) }
        }
        return result.map { $0! }
    }
}

/// Which layers become fully sharded units.
public enum ShardingPolicy: Sendable {
    /// Every layer its own unit (per transformer block when the layers are blocks).
    case eachLayer
    /// Consecutive layers joined until a unit holds at least this many parameter elements.
    case parameterCount(minimum: Int)
}

/// `layers` as a Sequential of fully sharded units, grouped by `policy` (PyTorch's
/// auto-wrap policies). Only the units' chunks are held by each rank; train with any
/// optimizer over the result's `parameters()`.
public func fullyShard(_ layers: [any Layer], group: any ProcessGroup, policy: ShardingPolicy = .eachLayer) throws -> Sequential {
    var units = [[any Layer]]()
    switch policy {
    case .eachLayer:
        units = layers.map { [$0] }
    case .parameterCount(let minimum):
        var current = [any Layer](), count = 0
        for layer in layers {
            current.append(layer)
            count += layer.parameterCount
            if count >= minimum {
                units.append(current)
                current = []
                count = 0
            }
        }
        if !current.isEmpty { units.append(current) }
    }
    let sharded = try units.map { members in
        try FullyShardedModule(members.count == 1 ? members[0] : Sequential(members), group: group)
    }
    for (unit, next) in zip(sharded, sharded.dropFirst()) {
        unit.neighbours.next = next
        next.neighbours.previous = unit
    }
    return Sequential(sharded)
}
