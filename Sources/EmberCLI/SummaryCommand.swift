import ArgumentParser
import Ember
import EmberRuns
import EmberIO
import EmberModels
import EmberNN
import EmberONNX
import Foundation

/// `ember summary`: the table of a model's layers with output shapes, parameters and FLOPs.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers, output shapes, parameters and FLOPs per example.",
        discussion: """
        MODEL is a model name (\(ModelRegistry.names.joined(separator: ", "))), a run directory \
        written by ember train, an .onnx file (inputs, outputs, parameters, operators), or a Hugging Face BERT folder (config.json and weights). FLOPs count matrix products and convolutions, two per \
        multiply-add, as PyTorch's flop counter does.
        """)

    @Argument(help: ArgumentHelp("A model name or a run directory.", valueName: "model")) var target: String
    @OptionGroup var options: ModelOptions

    func run() throws {
        try options.validateValues()
        if target.hasSuffix(".onnx") {
            print(try ONNXModel(contentsOf: URL(fileURLWithPath: target)).summaryText)
            return
        }
        let folder = URL(fileURLWithPath: target)
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path),
           !FileManager.default.fileExists(atPath: folder.appendingPathComponent(ModelCard.fileName).path) {
            try summarizeBERT(folder)
            return
        }
        let chosen = try options.resolve(target, examples: 1)
        let input = chosen.input
        print("\(chosen.description): one example of shape \(input.shape)")
        let example = if case .tokens = input { Tensor.ones([1] + input.shape, dtype: .int64) } else { Tensor.zeros([1] + input.shape) }
        print(chosen.model.summary(input: example))
    }

    /// A Hugging Face BERT folder, read with its weights, on one sequence of --length tokens.
    private func summarizeBERT(_ folder: URL) throws {
        let bert = try BERTModel(pretrained: folder)
        let tokens = options.length ?? min(128, bert.config.maxPositionEmbeddings)
        guard tokens <= bert.config.maxPositionEmbeddings else {
            throw CommandError("--length \(tokens) is more than the \(bert.config.maxPositionEmbeddings) tokens the model in \(folder.path) reads "
                               + "(max_position_embeddings)")
        }
        print("\(folder.path) (BERT, \(bert.config.numHiddenLayers) layers, hidden \(bert.config.hiddenSize)): one sequence of \(tokens) tokens")
        print(bert.summary(input: Tensor.ones([1, tokens], dtype: .int64)) { bert(inputIDs: $0) })
    }
}
