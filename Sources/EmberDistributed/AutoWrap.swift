import Ember
import EmberNN

/// Which modules of a model `fullyShard(_:group:policy:)` makes fully sharded units
/// (PyTorch's auto-wrap policies); the model itself is the root unit, holding the rest.
public enum AutoWrapPolicy {
    /// Each module of one of these types (transformer blocks), the outermost where they nest.
    case moduleTypes([Module.Type])
    /// Bottom up, each layer holding at least this many parameter elements (PyTorch's
    /// size-based policy); a layer with a unit inside is not made a unit itself.
    case parameterCount(minimum: Int)
    /// No units inside: the whole model is one unit.
    case wholeModel
}

/// `model` fully sharded across `group`: the layers `policy` picks become units in place
/// (`replaceModule`, so the state keys stay the model's own), each gathering its parameters
/// only around its own forward and backward passes and prefetching the next unit's, and the
/// returned root unit shards what is left (embeddings, final norm, output layer). A layer
/// whose parameters are tied to a tensor outside it (GPT's token embedding, shared with the
/// output layer) is left to the root. Only layers called with one tensor can be units.
public func fullyShard(_ model: any Layer, group: any ProcessGroup, policy: AutoWrapPolicy) throws -> FullyShardedModule {
    let chosen = unitCandidates(model, policy: policy)
    var units = [FullyShardedModule]()
    for (name, layer) in chosen {
        let unit = try FullyShardedModule(layer, group: group)
        try model.replaceModule(at: name, with: unit)
        units.append(unit)
    }
    for (unit, next) in zip(units, units.dropFirst()) {
        unit.neighbours.next = next
        next.neighbours.previous = unit
    }
    return try FullyShardedModule(model, group: group, reshardsAfterForward: units.isEmpty)
}

/// The layers of `model` that `policy` makes units, with their dotted names, in tree order.
func unitCandidates(_ model: any Layer, policy: AutoWrapPolicy) -> [(name: String, layer: any Layer)] {
    let state = model.stateDict()
    // Whether the module's parameters are all its own (none tied to a tensor outside it).
    func standsAlone(_ name: String, _ module: Module) -> Bool {
        let inside = Set(module.parameters().map(ObjectIdentifier.init))
        return !state.contains { key, tensor in !key.hasPrefix(name + ".") && inside.contains(ObjectIdentifier(tensor)) }
    }
    var chosen = [(name: String, layer: any Layer)]()
    switch policy {
    case .wholeModel:
        break
    case .moduleTypes(let types):
        for (name, module) in model.namedModules() where !name.isEmpty {
            guard types.contains(where: { $0 == type(of: module) }), let layer = module as? any Layer,
                  !chosen.contains(where: { name.hasPrefix($0.name + ".") }), standsAlone(name, module) else { continue }
            chosen.append((name, layer))
        }
    case .parameterCount(let minimum):
        // Returns whether a unit was chosen at or below the module.
        func visit(_ name: String, _ module: Module) -> Bool {
            var below = false
            for (key, child) in module.namedChildren() {
                if visit(name.isEmpty ? key : name + "." + key, child) { below = true }
            }
            guard !below, !name.isEmpty, let layer = module as? any Layer, module.parameterCount >= minimum,
                  standsAlone(name, module) else { return below }
            chosen.append((name, layer))
            return true
        }
        _ = visit("", model)
        // Post-order appends children first; tree order is what the passes follow.
        let order = Dictionary(uniqueKeysWithValues: model.namedModules().enumerated().map { ($0.element.0, $0.offset) })
        chosen.sort { order[$0.name]! < order[$1.name]! }
    }
    return chosen
}
