import ArgumentParser
import Ember
import EmberIO
import EmberNN
import EmberRuns
import Foundation

/// The options that choose a model and its input for `ember summary` and `ember profile`: a
/// zoo model's input shape, classes and text length, or a run directory's own.
struct ModelOptions: ParsableArguments {
    /// A model built for the options, or a run's.
    struct ChosenModel {
        /// The model's name, and for a run its checkpoint.
        var description: String
        /// The zoo name of its architecture.
        var name: String
        var model: any Layer
        /// What one example is.
        var input: ModelInput
        var classes: Int
    }

    @Option(help: "One example's shape, comma-separated: C,H,W for images, N for features. [default: the model's usual input]")
    var inputShape: String?
    @Option(parsing: .unconditional, help: "Classes of the output layer (for a model name). [default: 10, or 1000 for the ImageNet ResNets]") var classes: Int?

    @Option(parsing: .unconditional, help: "Tokens per example for text models. [default: 128]") var length: Int?

    func validateValues() throws {
        if let length, length <= 0 { throw CommandError("--length must be positive, got \(length)") }
        if let classes, classes <= 0 { throw CommandError("--classes must be positive, got \(classes)") }
    }

    /// The model and the input of one example: a run's, or a model name's built for the
    /// options (a text model for --length tokens), checked against memory for `examples`
    /// examples at once first.
    func resolve(_ target: String, examples: Int) throws -> ChosenModel {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            guard inputShape == nil && classes == nil else {
                throw CommandError("a run's model has its own input and classes: drop --input-shape and --classes")
            }
            let saved = try SavedRun(path: target)
            let name = "\(saved.card.model) (\(saved.checkpoint.path))"
            guard let length else {
                return ChosenModel(description: name, name: saved.card.model, model: saved.model, input: saved.card.input,
                                   classes: saved.card.outputs)
            }
            guard case .tokens(let tokenizer, let vocabulary, let maxLength, let padding) = saved.card.input else {
                throw CommandError("--length is for text models; the run's model '\(saved.card.model)' reads \(saved.card.input.shape)")
            }
            // Position embeddings (and GPT's context) end at the length the model was trained for.
            guard length <= maxLength || saved.card.model == "lstm" else {
                throw CommandError("--length \(length) is more than the \(maxLength) tokens the run's model '\(saved.card.model)' reads")
            }
            let input = ModelInput.tokens(tokenizer: tokenizer, vocabularySize: vocabulary, maxLength: length, paddingID: padding)
            try checkMemory(saved.card.model, input: input, classes: saved.card.outputs, examples: examples)
            return ChosenModel(description: name, name: saved.card.model, model: saved.model, input: input, classes: saved.card.outputs)
        }
        guard ModelRegistry.names.contains(target) else {
            throw CommandError("'\(target)' is neither a run directory nor a model (available: \(ModelRegistry.names.joined(separator: ", ")))")
        }
        var input = ModelRegistry.defaultInput(target)
        if let inputShape {
            let sizes = inputShape.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard sizes.allSatisfy({ ($0 ?? 0) > 0 }), [1, 3].contains(sizes.count) else {
                throw CommandError("--input-shape must be C,H,W or N with positive sizes, got '\(inputShape)'")
            }
            let s = sizes.map { $0! }
            guard s.count == 1 || (1...4).contains(s[0]) else { throw CommandError("--input-shape \(inputShape): images have 1 to 4 channels") }
            if s.count == 1, let problem = MemoryLimit.problem(bytes: MemoryLimit.bytes([s[0], 64])) {
                throw CommandError("--input-shape \(inputShape): the feature names alone need \(problem)")
            }
            input = s.count == 3 ? .image(channels: s[0], height: s[1], width: s[2], mean: [], std: [])
                : .features(names: (1...s[0]).map { "feature \($0)" }, mean: nil, std: nil)
        }
        if let length {
            guard case .tokens(let tokenizer, let vocabulary, _, let padding) = input else {
                throw CommandError("--length is for text models; '\(target)' reads images or features")
            }
            input = .tokens(tokenizer: tokenizer, vocabularySize: vocabulary, maxLength: length, paddingID: padding)
        }
        let classes = classes ?? ModelRegistry.defaultClasses(target)
        try checkMemory(target, input: input, classes: classes, examples: examples)
        let model = try ModelRegistry.make(target, input: input, classes: classes)
        return ChosenModel(description: target, name: target, model: model, input: input, classes: classes)
    }

    /// Refuses a model (or one example's activations) too large for this machine, naming the
    /// options that made it so.
    private func checkMemory(_ name: String, input: ModelInput, classes: Int, examples: Int) throws {
        guard let problem = ModelRegistry.memoryProblem(name, input: input, classes: classes, examples: examples) else { return }
        let options = [inputShape.map { "--input-shape \($0)" }, self.classes.map { "--classes \($0)" }, length.map { "--length \($0)" }]
        throw CommandError("'\(name)' with \(options.compactMap { $0 }.joined(separator: " and ")) is too large: \(problem)")
    }
}
