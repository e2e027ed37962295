import ArgumentParser
import Ember
import EmberModels
import EmberNN
import Foundation

/// `ember summary`: the table of a model's layers with output shapes, parameters and FLOPs.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers, output shapes, parameters and FLOPs per example.",
        discussion: """
        MODEL is a model name (\(ModelRegistry.names.joined(separator: ", "))), a run directory \
        written by ember train, or a Hugging Face BERT folder (config.json and weights). FLOPs count matrix products and convolutions, two per \
        multiply-add, as PyTorch's flop counter does.
        """)

    @Argument(help: ArgumentHelp("A model name or a run directory.", valueName: "model")) var target: String
    @Option(help: "One example's shape, comma-separated: C,H,W for images, N for features. [default: the model's usual input]")
    var inputShape: String?
    @Option(help: "Classes of the output layer (for a model name). [default: 10, or 1000 for the ImageNet ResNets]") var classes: Int?

    @Option(help: "Tokens per example for text models. [default: 128]") var length: Int?

    func run() throws {
        if let length, length <= 0 { throw CommandError("--length must be positive, got \(length)") }
        let folder = URL(fileURLWithPath: target)
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path),
           !FileManager.default.fileExists(atPath: folder.appendingPathComponent(ModelCard.fileName).path) {
            try summarizeBERT(folder)
            return
        }
        var (name, model, input) = try resolve()
        if let length, case .tokens(let tokenizer, let vocabulary, _, let padding) = input {
            input = .tokens(tokenizer: tokenizer, vocabularySize: vocabulary, maxLength: length, paddingID: padding)
        }
        print("\(name): one example of shape \(input.shape)")
        let example = if case .tokens = input { Tensor.ones([1] + input.shape, dtype: .int64) } else { Tensor.zeros([1] + input.shape) }
        print(model.summary(input: example))
    }

    /// A Hugging Face BERT folder, read with its weights, on one sequence of --length tokens.
    private func summarizeBERT(_ folder: URL) throws {
        let bert: BERTModel
        do {
            bert = try BERTModel(pretrained: folder)
        } catch {
            throw CommandError("\(error)")
        }
        let tokens = min(length ?? 128, bert.config.maxPositionEmbeddings)
        print("\(folder.path) (BERT, \(bert.config.numHiddenLayers) layers, hidden \(bert.config.hiddenSize)): one sequence of \(tokens) tokens")
        print(bert.summary(input: Tensor.ones([1, tokens], dtype: .int64)) { bert(inputIDs: $0) })
    }

    private func resolve() throws -> (String, any Layer, ModelInput) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            guard inputShape == nil && classes == nil else {
                throw CommandError("a run's model has its own input and classes: drop --input-shape and --classes")
            }
            let saved = try SavedRun(path: target)
            return ("\(saved.card.model) (\(saved.checkpoint.path))", saved.model, saved.card.input)
        }
        guard ModelRegistry.names.contains(target) else {
            throw CommandError("'\(target)' is neither a run directory nor a model (available: \(ModelRegistry.names.joined(separator: ", ")))")
        }
        var input = ModelRegistry.defaultInput(target)
        if let inputShape {
            let sizes = inputShape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard sizes.allSatisfy({ ($0 ?? 0) > 0 }), [1, 3].contains(sizes.count) else {
                throw CommandError("--input-shape must be C,H,W or N with positive sizes, got '\(inputShape)'")
            }
            let s = sizes.map { $0! }
            input = s.count == 3 ? .image(channels: s[0], height: s[1], width: s[2], mean: [], std: [])
                : .features(names: (1...s[0]).map { "feature \($0)" }, mean: nil, std: nil)
        }
        let classes = classes ?? ModelRegistry.defaultClasses(target)
        guard classes > 0 else { throw CommandError("--classes must be positive, got \(classes)") }
        return (target, try ModelRegistry.make(target, input: input, classes: classes), input)
    }
}
