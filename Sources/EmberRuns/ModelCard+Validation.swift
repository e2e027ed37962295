import EmberIO

extension ModelCard {
    /// The first field that no model can be built or fed from, and why: sizes that are not
    /// positive, statistics that do not match the channels or features, a padding id outside
    /// the vocabulary, classes a model cannot have, a model too large for this machine.
    public var problem: (member: String?, problem: String)? {
        guard ModelRegistry.names.contains(model) else {
            return ("model", "'\(model)' is not a model ember train builds (available: \(ModelRegistry.names.joined(separator: ", ")))")
        }
        let readsText = ModelRegistry.textModels.contains(model) || ModelRegistry.languageModels.contains(model)
        switch input {
        case .image(let channels, let height, let width, let mean, let std):
            guard !readsText else { return ("input", "holds images, but '\(model)' reads text") }
            guard (1...4).contains(channels) else { return ("input.image.channels", "is \(channels); images have 1 to 4 channels") }
            for (key, size) in [("height", height), ("width", width)] where size <= 0 {
                return ("input.image.\(key)", "is \(size); it must be positive")
            }
            if let problem = Self.statistics(mean: mean, std: std, count: channels, of: "channel", at: "input.image") { return problem }
        case .features(let names, let mean, let std):
            guard ModelRegistry.denseModels.contains(model) else { return ("input", "holds feature vectors, but '\(model)' does not read them") }
            guard !names.isEmpty else { return ("input.features.names", "is empty; a model reads at least one feature") }
            if mean != nil || std != nil,
               let problem = Self.statistics(mean: mean ?? [], std: std ?? [], count: names.count, of: "feature", at: "input.features") {
                return problem
            }
        case .tokens(_, let vocabularySize, let maxLength, let paddingID):
            guard readsText else { return ("input", "holds token ids, but '\(model)' does not read text") }
            guard vocabularySize > 0 else { return ("input.tokens.vocabularySize", "is \(vocabularySize); it must be positive") }
            guard maxLength > 0 else { return ("input.tokens.maxLength", "is \(maxLength); it must be positive") }
            guard (0..<vocabularySize).contains(paddingID) else {
                return ("input.tokens.paddingID", "is \(paddingID); it must be a token id in 0..<\(vocabularySize) (vocabularySize)")
            }
        }
        if ModelRegistry.languageModels.contains(model) {
            guard classNames.isEmpty else { return ("classNames", "lists \(classNames.count) classes; a language model has none (it predicts tokens)") }
        } else if classNames.isEmpty {
            return ("classNames", "is empty; a classifier has at least one class")
        }
        if let problem = ModelRegistry.memoryProblem(model, input: input, classes: outputs, examples: 1) {
            return (nil, "the model '\(model)' for input \(input.shape) and \(outputs) outputs is too large: \(problem)")
        }
        return nil
    }

    /// Per-channel (or per-feature) means and standard deviations: one each, finite, the
    /// deviations positive.
    private static func statistics(mean: [Float], std: [Float], count: Int, of what: String, at path: String)
        -> (member: String?, problem: String)? {
        for (key, values) in [("mean", mean), ("std", std)] where values.count != count {
            return ("\(path).\(key)", "has \(values.count) values for \(count) \(what)s; it needs one per \(what)")
        }
        if let index = mean.firstIndex(where: { !$0.isFinite }) { return ("\(path).mean[\(index)]", "is \(mean[index]); it must be a finite number") }
        if let index = std.firstIndex(where: { !($0 > 0 && $0.isFinite) }) {
            return ("\(path).std[\(index)]", "is \(std[index]); a standard deviation must be positive and finite")
        }
        return nil
    }
}
