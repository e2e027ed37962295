import Ember
import EmberNN
import EmberOptim

/// Training state held in pieces across the ranks of a group (ZeRO's optimizer state, FSDP's
/// parameters): its consolidated form, the one a checkpoint keeps, is gathered by a
/// collective, so every rank must take part in saving it.
public protocol ShardedTrainingState: AnyObject {
    var group: any ProcessGroup { get }
}

extension ShardedOptimizer: ShardedTrainingState {}
extension FullyShardedModule: ShardedTrainingState {}

/// The fully sharded units in `model`'s tree, with their dotted names ("" for the model
/// itself), in tree order; the units inside units only when `includingNested` (a unit's
/// consolidated state already holds theirs).
public func fullyShardedUnits(in model: Module, includingNested: Bool = false) -> [(name: String, unit: FullyShardedModule)] {
    if includingNested {
        return model.namedModules().compactMap { name, module in (module as? FullyShardedModule).map { (name, $0) } }
    }
    if let unit = model as? FullyShardedModule { return [("", unit)] }
    return model.namedChildren().flatMap { key, child in
        fullyShardedUnits(in: child).map { (joined(key, $0.name), $0.unit) }
    }
}

/// `model`'s state dict with each fully sharded unit's chunks replaced by its wrapped layer's
/// full state (parameters and buffers) under the unit's name: the keys and shapes the model
/// would have without sharding, so the result loads at any world size. A collective when the
/// model has units (every rank gets the whole state); `model.stateDict()` otherwise.
public func consolidatedStateDict(of model: Module) throws -> [String: Tensor] {
    var state = model.stateDict()
    for (name, unit) in fullyShardedUnits(in: model) {
        for key in unit.stateKeys() { state[joined(name, key)] = nil }
        for (key, tensor) in try unit.fullStateDict() { state[joined(name, key)] = tensor }
    }
    return state
}

/// The shapes of `consolidatedStateDict(of:)`, found without communicating.
public func consolidatedStateShapes(of model: Module) -> [String: [Int]] {
    var shapes = model.stateDict().mapValues(\.shape)
    for (name, unit) in fullyShardedUnits(in: model) {
        for key in unit.stateKeys() { shapes[joined(name, key)] = nil }
        for (key, shape) in unit.fullStateShapes() { shapes[joined(name, key)] = shape }
    }
    return shapes
}

/// Loads a consolidated state dict (all keys, as `consolidatedStateDict(of:)` gives them):
/// each fully sharded unit keeps its chunks of its layer's full parameters. A collective
/// when the model has units: every rank passes the whole state.
public func loadConsolidatedStateDict(_ state: [String: Tensor], into model: Module) throws {
    let units = fullyShardedUnits(in: model)
    var rest = state
    var unitStates = [[String: Tensor]]()
    for (name, unit) in units {
        var unitState = [String: Tensor]()
        for key in unit.fullStateShapes().keys {
            unitState[key] = rest.removeValue(forKey: joined(name, key))
        }
        unitStates.append(unitState)
    }
    // The units' chunks are missing from the plain load: loadFullStateDict sets them.
    let chunkKeys = Set(units.flatMap { name, unit in unit.stateKeys().map { joined(name, $0) } })
    let report = try model.loadStateDict(rest, strict: false)
    let missing = report.missingKeys.filter { !chunkKeys.contains($0) }
    let problems = (missing.isEmpty ? [] : ["missing keys: " + missing.joined(separator: ", ")])
        + (report.unexpectedKeys.isEmpty ? [] : ["unexpected keys: " + report.unexpectedKeys.joined(separator: ", ")])
    if !problems.isEmpty { throw StateDictError(problems: problems) }
    for ((_, unit), unitState) in zip(units, unitStates) { try unit.loadFullStateDict(unitState) }
}

private func joined(_ prefix: String, _ key: String) -> String { prefix.isEmpty ? key : key.isEmpty ? prefix : prefix + "." + key }

/// The full shape of each fully sharded unit's chunk in `model`, by the chunk tensor.
private func fullShapesOfChunks(in model: Module) -> [ObjectIdentifier: (shape: [Int], group: any ProcessGroup)] {
    var result = [ObjectIdentifier: (shape: [Int], group: any ProcessGroup)]()
    for (_, unit) in fullyShardedUnits(in: model, includingNested: true) {
        for (shard, shape) in zip(unit.shards, unit.fullParameterShapes) { result[ObjectIdentifier(shard)] = (shape, unit.group) }
    }
    return result
}

/// `optimizer`'s state as one process training the unsharded model would save it: a
/// `ShardedOptimizer`'s consolidated state, or, for an optimizer over fully sharded units'
/// chunks, each chunk's buffers gathered into its parameter's full shape (a collective:
/// every rank takes part). Loads at any world size, or into a plain optimizer.
public func consolidatedOptimizerState(of optimizer: any OptimizerProtocol, model: Module) throws -> OptimizerState {
    let local = optimizer.stateDict()
    let chunks = fullShapesOfChunks(in: model)
    guard !(optimizer is any ShardedTrainingState), !chunks.isEmpty else { return local }
    let parameters = optimizer.parameters
    var info = local.info, tensors = local.tensors
    // In one order on every rank (every rank's optimizer has the same keys).
    for key in local.tensors.keys.sorted() {
        guard let index = parameterIndex(ofStateKey: key), index < parameters.count,
              let (shape, group) = chunks[ObjectIdentifier(parameters[index])] else { continue }
        let gathered = try group.allGather(local.tensors[key]!.contiguous())
        tensors[key] = noGrad { gathered.reshaped(to: [-1]).narrow(axis: 0, start: 0, count: shape.reduce(1, *)).reshaped(to: shape).contiguous() }
    }
    var index = 0
    for g in info.groups.indices {
        for k in info.groups[g].shapes.indices {
            if index < parameters.count, let (shape, _) = chunks[ObjectIdentifier(parameters[index])] { info.groups[g].shapes[k] = shape }
            index += 1
        }
    }
    return OptimizerState(tensors: tensors, info: info)
}

/// Loads a state saved by `consolidatedOptimizerState(of:model:)` (at any world size):
/// an optimizer over fully sharded units' chunks keeps its chunks of each buffer.
public func loadConsolidatedOptimizerState(_ saved: OptimizerState, into optimizer: any OptimizerProtocol, model: Module) throws {
    let chunks = fullShapesOfChunks(in: model)
    guard !(optimizer is any ShardedTrainingState), !chunks.isEmpty else { return try optimizer.loadStateDict(saved) }
    let parameters = optimizer.parameters
    var info = saved.info, tensors = saved.tensors
    var index = 0
    for g in info.groups.indices {
        for k in info.groups[g].shapes.indices {
            if index < parameters.count, let (shape, _) = chunks[ObjectIdentifier(parameters[index])] {
                guard info.groups[g].shapes[k] == shape else {
                    throw OptimizerError("loadStateDict: parameter \(index) has shape \(shape), the state's has shape \(info.groups[g].shapes[k])")
                }
                info.groups[g].shapes[k] = parameters[index].shape
            }
            index += 1
        }
    }
    for (key, tensor) in saved.tensors {
        guard let index = parameterIndex(ofStateKey: key), index < parameters.count,
              let (shape, group) = chunks[ObjectIdentifier(parameters[index])] else { continue }
        guard tensor.shape == shape else {
            throw OptimizerError("loadStateDict: state tensor '\(key)' has shape \(tensor.shape), parameter \(index) has shape \(shape)")
        }
        tensors[key] = ShardLayout(shapes: [shape], dtype: tensor.dtype, worldSize: group.worldSize).section(of: [tensor], rank: group.rank)
    }
    try optimizer.loadStateDict(OptimizerState(tensors: tensors, info: info))
}

/// The parameter index in an optimizer state key, "state.<index>.<buffer>".
private func parameterIndex(ofStateKey key: String) -> Int? {
    let parts = key.split(separator: ".")
    return parts.count >= 3 && parts[0] == "state" ? Int(parts[1]) : nil
}
