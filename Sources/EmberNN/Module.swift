import Ember

/// The base of every layer and model, PyTorch's `nn.Module`.
///
/// Parameters (`@Parameter`), buffers (`@Buffer`) and submodules (stored properties whose
/// value is a `Module`, an optional `Module` or an array of modules) are found by reflection
/// over stored properties, in declaration order. Their state keys are the property names in
/// snake case (`runningMean` → `running_mean`), joined with dots (`layer1.0.conv1.weight`),
/// so state written by PyTorch loads by name; `@Parameter(key:)`, `@Buffer(key:)` and
/// `@Child(key:)` name a slot explicitly (`LayerNorm` in Hugging Face's BERT), and
/// `registerParameter(_:as:)` adds slots whose number is known only at run time.
open class Module {
    /// Whether the module is in training mode (dropout active, batch statistics updated).
    public private(set) var isTraining = true
    /// The precision this module's calls run in, submodules included unless they set their
    /// own (Keras's mixed-precision policy): `.bf16` on a model runs it under autocast,
    /// `.fp32` on its head keeps that in float32. nil: whatever the caller runs in.
    /// Parameters stay float32 either way.
    public var precision: Precision?
    private var registered: [(key: String, slot: TensorSlot)] = []
    /// The `ModuleList` standing for each array-valued property, kept so that it has one
    /// identity (and one training flag) across traversals.
    private var listWrappers: [String: ModuleList] = [:]
    /// The module standing in for this one since `replaceModule(at:with:)` (held by the
    /// parent, weakly here): the tree shows it in this one's place and calls of this layer run it.
    public internal(set) weak var replacement: Module?
    /// The replacements of this module's direct children, which it keeps alive.
    private var childReplacements: [Module] = []
    /// Above zero while this layer runs its own `forward` although it has been replaced (the
    /// replacement calling the module it stands for).
    private var ownCallDepth = 0

    public init() {}

    /// The name shown in summaries and error messages.
    open var typeName: String { String(describing: type(of: self)) }

    // MARK: Mode

    /// Sets training mode on this module and every submodule.
    @discardableResult
    public func train(_ on: Bool = true) -> Self {
        for (_, module) in namedModules() { module.isTraining = on }
        return self
    }

    /// Sets evaluation mode (dropout off, batch norm uses running statistics).
    @discardableResult
    public func eval() -> Self { train(false) }

    // MARK: Registration

    /// Adds a parameter under `key`; for layers whose number of weights is a constructor
    /// argument (LSTM's `weight_ih_l0`, `weight_ih_l1`, ...). Returns the slot holding it.
    @discardableResult
    public func registerParameter(_ tensor: Tensor, as key: String) -> Parameter<Tensor> {
        let slot = Parameter(wrappedValue: tensor, key: key)
        registered.append((key, slot))
        return slot
    }

    /// Adds a buffer (state that is saved but not trained) under `key`. Returns its slot.
    @discardableResult
    public func registerBuffer(_ tensor: Tensor, as key: String) -> Buffer<Tensor> {
        let slot = Buffer(wrappedValue: tensor, key: key)
        registered.append((key, slot))
        return slot
    }

    // MARK: Traversal

    /// Direct tensor slots and submodules, with their keys, in declaration order; a replaced
    /// child is seen as its replacement (except by the replacement itself, whose child it may be).
    final func members() -> (slots: [(String, TensorSlot)], children: [(String, Module)]) {
        let (slots, children) = declaredMembers()
        return (slots, children.map { key, child in
            if let replacement = child.replacement, replacement !== self { return (key, replacement) }
            return (key, child)
        })
    }

    /// The slots and submodules the module's stored properties hold, as declared (containers
    /// that hold their layers otherwise override this).
    func declaredMembers() -> (slots: [(String, TensorSlot)], children: [(String, Module)]) {
        var slots = [(String, TensorSlot)]()
        var children = [(String, Module)]()
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels = [Mirror]()
        while let m = mirror {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Superclass properties come first, as PyTorch registers them in the base initializer;
        // Module's own bookkeeping is not state.
        for level in levels.reversed() where level.subjectType != Module.self {
            for child in level.children {
                guard let label = child.label else { continue }
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                switch child.value {
                case let slot as TensorSlot:
                    slots.append((slot.key ?? snakeCase(name), slot))
                case let named as ChildSlot:
                    if let module = named.module { children.append((named.key ?? snakeCase(name), module)) }
                case let module as Module:
                    children.append((snakeCase(name), module))
                case let list as [Any] where !list.isEmpty && list.allSatisfy({ $0 is Module }):
                    children.append((snakeCase(name), listWrapper(name, list.map { $0 as! Module })))
                default:
                    break
                }
            }
        }
        slots += registered.map { ($0.key, $0.slot) }
        return (slots, children)
    }

    private func listWrapper(_ name: String, _ modules: [Module]) -> ModuleList {
        if let wrapper = listWrappers[name], wrapper.modules.elementsEqual(modules, by: ===) { return wrapper }
        let wrapper = ModuleList(modules)
        wrapper.isTraining = isTraining
        listWrappers[name] = wrapper
        return wrapper
    }

    /// Direct submodules with their keys.
    public func namedChildren() -> [(String, Module)] { members().children }

    /// This module and every module below it, with dotted names ("" for this one).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var result = [(prefix, self)]
        for (key, child) in namedChildren() {
            result += child.namedModules(prefix: join(prefix, key))
        }
        return result
    }

    // MARK: Replacing submodules

    /// Puts `replacement` in place of the layer at `path` (a dotted name from
    /// `namedModules()`, such as "transformer.h.3"), as PyTorch's `setattr` on the parent
    /// does: from then on the tree (`namedModules`, `parameters`, the state dict, `train`)
    /// shows the replacement under that name, and calling the layer (`layer(x)`) runs the
    /// replacement, which may hold the original and call its own forward pass with
    /// `callingOwnForward`. Swift's stored properties cannot be reassigned by reflection, so
    /// the parent keeps its reference to the original; only single-tensor calls can be
    /// redirected, and calling a replaced module any other way stops with a message.
    /// The parent keeps the replacement alive.
    public func replaceModule(at path: String, with replacement: any Layer) throws {
        let components = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty else { throw ModuleReplacementError("cannot replace the module itself (path \"\"); wrap it instead") }
        var parent: Module = self
        for component in components.dropLast() {
            guard let child = parent.namedChildren().first(where: { $0.0 == component })?.1 else {
                throw ModuleReplacementError("\(typeName) has no submodule \(path): no child \(component)")
            }
            parent = child
        }
        guard let original = parent.namedChildren().first(where: { $0.0 == components.last! })?.1 else {
            throw ModuleReplacementError("\(typeName) has no submodule \(path)")
        }
        guard original is any Layer else {
            throw ModuleReplacementError("\(path) (\(original.typeName)) is not a Layer: only single-tensor calls can be redirected to a replacement")
        }
        guard original !== replacement else { return }
        parent.childReplacements.removeAll { $0 === original.replacement }
        parent.childReplacements.append(replacement)
        original.replacement = replacement
    }

    /// Runs `body`, in which this layer's calls run its own forward pass even when it has
    /// been replaced: for the replacement that wraps it.
    public func callingOwnForward<R>(_ body: () throws -> R) rethrows -> R {
        ownCallDepth += 1
        defer { ownCallDepth -= 1 }
        return try body()
    }

    /// The replacement that this module's calls go to now, if any.
    var activeReplacement: Module? { ownCallDepth == 0 ? replacement : nil }

    /// Every tensor slot below this module, in PyTorch's order: a module's parameters, then
    /// its buffers, then its children's slots.
    fileprivate func namedSlots(prefix: String = "") -> [(String, TensorSlot)] {
        let (slots, children) = members()
        let ordered = slots.filter { $0.1.kind == .parameter } + slots.filter { $0.1.kind != .parameter }
        var result = ordered.map { (join(prefix, $0.0), $0.1) }
        for (key, child) in children {
            result += child.namedSlots(prefix: join(prefix, key))
        }
        return result
    }

    /// Every parameter below this module with its dotted name, in PyTorch's order. Optional
    /// parameters that are absent (a layer without bias) are left out. A tensor held by
    /// several slots (tied weights: a language model's output layer sharing the token
    /// embedding) is listed once, under its first name, as PyTorch does, so that an optimizer
    /// updates it once.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        return namedSlots().compactMap { name, slot in
            guard slot.kind == .parameter, let tensor = slot.tensor, seen.insert(ObjectIdentifier(tensor)).inserted else { return nil }
            return (name, tensor)
        }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Parameters that are not frozen.
    public func trainableParameters() -> [Tensor] { parameters().filter(\.requiresGrad) }

    /// Buffers (running statistics and the like) with their dotted names.
    public func namedBuffers() -> [(String, Tensor)] {
        namedSlots().compactMap { name, slot in
            if case .buffer = slot.kind { return slot.tensor.map { (name, $0) } }
            return nil
        }
    }

    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }
    public var trainableParameterCount: Int { trainableParameters().reduce(0) { $0 + $1.count } }

    // MARK: Freezing

    /// Stops gradients to every parameter below this module (fine-tuning a head only).
    public func freeze() { for p in parameters() { p.requiresGrad = false } }
    public func unfreeze() { for p in parameters() { p.requiresGrad = true } }

    /// Clears the gradient of every parameter.
    public func zeroGrad() { for p in parameters() { p.grad = nil } }

    // MARK: State

    /// Parameters and persistent buffers by dotted name: what a checkpoint stores.
    public func stateDict() -> [String: Tensor] {
        Dictionary(stateEntries().map { ($0.0, $0.1.tensor!) }, uniquingKeysWith: { first, _ in first })
    }

    /// Names of the state in PyTorch's order.
    public func stateKeys() -> [String] { stateEntries().map(\.0) }

    fileprivate func stateEntries() -> [(String, TensorSlot)] {
        namedSlots().filter { $0.1.tensor != nil && $0.1.kind != .buffer(persistent: false) }
    }

    /// Copies `state` into this module's parameters and buffers by name (values are cast to
    /// each slot's dtype). A shape mismatch always throws and loads nothing; with `strict`,
    /// so do missing or unexpected keys. Returns the keys that were missing and unexpected.
    /// A key whose tensor is tied to another key's is not missing when that one is given
    /// (files written with safetensors' `save_model` keep one name per shared tensor).
    @discardableResult
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws -> StateDictReport {
        let entries = stateEntries()
        let known = Set(entries.map(\.0))
        let given = Set(entries.compactMap { key, slot in state[key] == nil ? nil : slot.tensor.map(ObjectIdentifier.init) })
        let report = StateDictReport(missingKeys: entries.filter { key, slot in
                                         state[key] == nil && !(slot.tensor.map { given.contains(ObjectIdentifier($0)) } ?? false)
                                     }.map(\.0),
                                     unexpectedKeys: state.keys.filter { !known.contains($0) }.sorted())
        let mismatches = entries.compactMap { key, slot -> String? in
            guard let value = state[key], let current = slot.tensor, value.shape != current.shape else { return nil }
            return "\(key): expected shape \(current.shape), found \(value.shape)"
        }
        if !mismatches.isEmpty {
            throw StateDictError(problems: mismatches.map { "shape mismatch for \($0)" })
        }
        if strict && !(report.missingKeys.isEmpty && report.unexpectedKeys.isEmpty) {
            throw StateDictError(problems: report.problems)
        }
        noGrad {
            for (key, slot) in entries {
                guard let value = state[key], let current = slot.tensor else { continue }
                current.assign(value.cast(to: current.dtype))
            }
        }
        return report
    }

    // MARK: Functional use

    /// Runs `body` with some parameters or buffers replaced by other tensors (by dotted
    /// name), then restores them: `grad` can then differentiate a forward pass with respect
    /// to a parameter tree, as torch.func.functional_call does. Slots that share the named
    /// slot's tensor (tied weights) take the replacement too.
    public func withState<R>(_ replacements: [String: Tensor], _ body: () throws -> R) rethrows -> R {
        let saved = swapSlots(replacements)
        // In reverse, so that a slot replaced twice (two tied names given) gets its original back.
        defer { for (slot, original) in saved.reversed() { slot.tensor = original } }
        return try body()
    }

    /// Puts other tensors in named parameter or buffer slots for good, copying no values (tied
    /// slots included): fully sharded training swaps a layer's full weights for empty
    /// placeholders between its uses, so that their memory is released.
    public func replaceState(_ replacements: [String: Tensor]) {
        swapSlots(replacements)
    }

    /// Sets the named slots (and the slots tied to them) to the replacements; returns what
    /// each slot held, in the order changed.
    @discardableResult
    private func swapSlots(_ replacements: [String: Tensor]) -> [(TensorSlot, Tensor?)] {
        let all = namedSlots()
        let slots = Dictionary(all, uniquingKeysWith: { first, _ in first })
        let holders = all.compactMap { _, slot in slot.tensor.map { (ObjectIdentifier($0), slot) } }
        let sharing = Dictionary(grouping: holders, by: \.0).mapValues { $0.map(\.1) }
        var saved = [(TensorSlot, Tensor?)]()
        for (key, tensor) in replacements {
            guard let slot = slots[key] else {
                preconditionFailure("withState: \(typeName) has no parameter or buffer named \(key)")
            }
            for tied in slot.tensor.flatMap({ sharing[ObjectIdentifier($0)] }) ?? [slot] {
                saved.append((tied, tied.tensor))
                tied.tensor = tensor
            }
        }
        return saved
    }
}

/// A `replaceModule(at:with:)` that cannot be done.
public struct ModuleReplacementError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Missing and unexpected keys of a non-strict state load.
public struct StateDictReport: Equatable, Sendable {
    public var missingKeys: [String]
    public var unexpectedKeys: [String]

    var problems: [String] {
        (missingKeys.isEmpty ? [] : ["missing keys: " + missingKeys.joined(separator: ", ")])
            + (unexpectedKeys.isEmpty ? [] : ["unexpected keys: " + unexpectedKeys.joined(separator: ", ")])
    }
}

/// A state dict that does not fit the module.
public struct StateDictError: Error, CustomStringConvertible {
    public var problems: [String]
    /// The file the state came from, if any.
    public var source: String?

    public init(problems: [String], source: String? = nil) {
        self.problems = problems
        self.source = source
    }

    public var description: String {
        "cannot load state dict\(source.map { " from \($0)" } ?? ""): " + problems.joined(separator: "; ")
    }
}

/// A module holding an array of modules under the keys "0", "1", ... (an array-valued
/// property of a module is wrapped in one during traversal).
public final class ModuleList: Module {
    public let modules: [Module]

    public init(_ modules: [Module]) {
        self.modules = modules
    }

    override func declaredMembers() -> (slots: [(String, TensorSlot)], children: [(String, Module)]) {
        ([], modules.enumerated().map { (String($0.offset), $0.element) })
    }
}

/// A child under the empty key (`@Child(key: "")`) lends its keys to its parent unchanged.
func join(_ prefix: String, _ key: String) -> String { prefix.isEmpty ? key : key.isEmpty ? prefix : prefix + "." + key }

/// `runningMean` → `running_mean`, `numBatchesTracked` → `num_batches_tracked`.
func snakeCase(_ name: String) -> String {
    var result = ""
    for character in name {
        if character.isUppercase {
            if !result.isEmpty { result.append("_") }
            result += character.lowercased()
        } else {
            result.append(character)
        }
    }
    return result
}
