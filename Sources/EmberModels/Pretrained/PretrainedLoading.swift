import Ember
import EmberIO
import EmberNN

/// How a checkpoint's tensor names relate to a model's state keys, as Hugging Face's
/// `base_model_prefix` and its lists of keys to ignore on loading.
///
/// A pattern ending in "." matches every name under it (`cls.`); any other pattern matches
/// one name exactly. Patterns are tried on a checkpoint name both as it is and with
/// `basePrefix` removed.
public struct PretrainedKeyRules: Sendable, Equatable {
    /// The prefix of the base model's weights in a checkpoint of the model with a head
    /// (`bert` in `bert.encoder.layer.0...`). A checkpoint with the prefix loads into the
    /// base model without it, and a base model's checkpoint loads into a model with a head.
    public var basePrefix: String?
    /// Checkpoint tensors that are known not to belong to the model and are skipped (another
    /// head, `cls.`; buffers Hugging Face saves, `embeddings.position_ids`).
    public var ignored: [String]
    /// Model keys a checkpoint may lack: a new head, left as initialized (and reported).
    public var newlyInitialized: [String]

    public init(basePrefix: String? = nil, ignored: [String] = [], newlyInitialized: [String] = []) {
        self.basePrefix = basePrefix
        self.ignored = ignored
        self.newlyInitialized = newlyInitialized
    }

    func matches(_ patterns: [String], _ name: String) -> Bool {
        let names = [name] + (stripped(name).map { [$0] } ?? [])
        return patterns.contains { pattern in
            names.contains { pattern.hasSuffix(".") ? $0.hasPrefix(pattern) : $0 == pattern }
        }
    }

    /// `name` without `basePrefix`, when it has it.
    func stripped(_ name: String) -> String? {
        guard let prefix = basePrefix.map({ $0 + "." }), name.hasPrefix(prefix) else { return nil }
        return String(name.dropFirst(prefix.count))
    }

    /// The model keys a checkpoint name may stand for, most direct first: the name itself,
    /// without or with the base prefix, and each with TensorFlow-era `gamma`/`beta` read as
    /// `weight`/`bias` (Hugging Face renames them too).
    func candidates(for name: String) -> [String] {
        var names = [name]
        if let prefix = basePrefix {
            names.append(stripped(name) ?? prefix + "." + name)
        }
        let legacy = names.compactMap { name -> String? in
            if name.hasSuffix(".gamma") { return String(name.dropLast(5)) + "weight" }
            if name.hasSuffix(".beta") { return String(name.dropLast(4)) + "bias" }
            return nil
        }
        return names + legacy
    }
}

/// What `loadPretrained` did.
public struct PretrainedLoadReport: Sendable, Equatable {
    /// Model keys filled from the checkpoint.
    public var loaded: [String]
    /// Checkpoint tensors skipped by the rules' `ignored` patterns.
    public var ignored: [String]
    /// Model keys the checkpoint lacked, left as initialized (the rules allowed them).
    public var newlyInitialized: [String]
}

extension Module {
    /// Fills this module's parameters and buffers from `weights` by name, under `rules`.
    /// Floating-point tensors are cast to each slot's dtype (F16 and BF16 checkpoints load into
    /// float32 models). Nothing is loaded unless everything fits; otherwise the error names
    /// the missing keys, the unexpected checkpoint tensors, and each shape or dtype mismatch
    /// (key, expected, found).
    @discardableResult
    public func loadPretrained(_ weights: PretrainedWeights, rules: PretrainedKeyRules = PretrainedKeyRules()) throws
        -> PretrainedLoadReport {
        let state = stateDict()
        let keys = stateKeys()
        var sourceOf = [String: String]()
        var ignored = [String](), unexpected = [String](), problems = [String]()
        for name in weights.names {
            if let key = rules.candidates(for: name).first(where: { state[$0] != nil }) {
                if let other = sourceOf[key] {
                    problems.append("both \(other) and \(name) would load \(key)")
                }
                sourceOf[key] = name
            } else if rules.matches(rules.ignored, name) {
                ignored.append(name)
            } else {
                unexpected.append(name)
            }
        }
        let absent = keys.filter { sourceOf[$0] == nil }
        let newlyInitialized = absent.filter { rules.matches(rules.newlyInitialized, $0) }
        let missing = absent.filter { !rules.matches(rules.newlyInitialized, $0) }

        for key in keys {
            guard let name = sourceOf[key], let slot = state[key] else { continue }
            let spec = try weights.spec(name)
            let label = name == key ? key : "\(key) (checkpoint tensor \(name))"
            if spec.shape != slot.shape {
                problems.append("shape mismatch for \(label): expected \(slot.shape), found \(spec.shape)")
            } else if spec.dtype.isFloatingPoint != slot.dtype.isFloatingPoint {
                problems.append("dtype mismatch for \(label): expected \(slot.dtype), found \(spec.dtype)")
            }
        }
        if sourceOf.isEmpty && !keys.isEmpty {
            problems.insert("no checkpoint tensor matched the model (the checkpoint has names like \(weights.names.first ?? "none"), the model keys like \(keys[0]))", at: 0)
        }
        if !missing.isEmpty {
            problems.append("missing from the checkpoint: \(listed(missing))")
        }
        if !unexpected.isEmpty {
            problems.append("unexpected tensors in the checkpoint: \(listed(unexpected))")
        }
        guard problems.isEmpty else {
            throw FileError(.huggingFaceModel, path: weights.source, problem: "cannot load into \(typeName): " + problems.joined(separator: "; "))
        }

        for key in keys {
            guard let name = sourceOf[key], let slot = state[key] else { continue }
            let value = try weights.tensor(named: name)
            noGrad { slot.assign(value.cast(to: slot.dtype)) }
        }
        return PretrainedLoadReport(loaded: keys.filter { sourceOf[$0] != nil }, ignored: ignored,
                                    newlyInitialized: newlyInitialized)
    }
}

/// Names in an error message: all of them when few, else the first ones and how many more.
func listed(_ names: [String], limit: Int = 20) -> String {
    guard names.count > limit else { return names.joined(separator: ", ") }
    return names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
}
