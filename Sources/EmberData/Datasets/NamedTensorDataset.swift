import Ember

/// One example of a `NamedTensorDataset`: a row of each input and target tensor, by name.
public struct NamedExample {
    public var inputs: [String: Tensor]
    public var targets: [String: Tensor]

    public init(inputs: [String: Tensor], targets: [String: Tensor]) {
        self.inputs = inputs
        self.targets = targets
    }
}

/// Examples read from named tensors along their first axis, for models with several inputs
/// or outputs (Keras's `fit({"title": x1, "body": x2}, {"priority": y1, ...})`): example i
/// holds row i of every tensor. A `DataLoader` over it makes named `Batch`es.
public struct NamedTensorDataset: Dataset {
    public let inputs: [String: Tensor]
    public let targets: [String: Tensor]
    public let count: Int

    public init(inputs: [String: Tensor], targets: [String: Tensor] = [:]) {
        precondition(!inputs.isEmpty, "NamedTensorDataset: needs at least one input")
        let all = inputs.sorted { $0.key < $1.key } + targets.sorted { $0.key < $1.key }
        precondition(all.allSatisfy { $0.value.rank > 0 },
                     "NamedTensorDataset: every tensor needs an axis to index, got " + all.map { "\($0.key) \($0.value.shape)" }.joined(separator: ", "))
        precondition(Set(all.map { $0.value.shape[0] }).count == 1,
                     "NamedTensorDataset: tensors differ in their first dimension: " + all.map { "\($0.key) \($0.value.shape[0])" }.joined(separator: ", "))
        // Contiguous once here, so examples are cheap views readable without kernels.
        self.inputs = inputs.mapValues { $0.contiguous() }
        self.targets = targets.mapValues { $0.contiguous() }
        count = all[0].value.shape[0]
    }

    public subscript(index: Int) -> NamedExample {
        precondition(index >= 0 && index < count, "NamedTensorDataset: index \(index) is out of range 0..<\(count)")
        return NamedExample(inputs: inputs.mapValues { $0.row(index) }, targets: targets.mapValues { $0.row(index) })
    }
}

extension Collate {
    /// Named examples stacked name by name.
    public static func batch(_ examples: [NamedExample]) -> Batch {
        precondition(!examples.isEmpty, "Collate.batch: no examples")
        func stacked(_ part: KeyPath<NamedExample, [String: Tensor]>) -> [String: Tensor] {
            let names = examples[0][keyPath: part].keys
            precondition(examples.allSatisfy { Set($0[keyPath: part].keys) == Set(names) },
                         "Collate.batch: named examples differ in their tensors' names")
            return Dictionary(uniqueKeysWithValues: names.map { name in (name, stack(examples.map { $0[keyPath: part][name]! })) })
        }
        return Batch(inputs: stacked(\.inputs), targets: stacked(\.targets))
    }
}

extension DataLoader where Output == Batch, D.Element == NamedExample {
    public convenience init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                            workers: Int = 0, prefetch: Int? = nil) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, seed: seed, dropLast: dropLast, workers: workers, prefetch: prefetch,
                  collate: Collate.batch)
    }
}
