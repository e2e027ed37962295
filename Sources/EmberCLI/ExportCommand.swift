import ArgumentParser
import Ember
import EmberModels
import EmberNN
import EmberONNX
import EmberRuns
import Foundation

/// `ember export`: a model to an ONNX file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a model to ONNX, for onnxruntime and other ONNX runtimes.",
        discussion: """
        SOURCE is a run directory written by ember train, a Hugging Face BERT folder (config.json and weights), a \
        sentence-transformers folder (modules.json; pooling and normalization included), or a model name \
        (\(ModelRegistry.names.joined(separator: ", ")); fresh weights). The model is exported in evaluation mode; weights are \
        initializers named by the state-dict keys. Dynamic axes are named in the file (batch, sequence); a fixed axis keeps \
        the traced size: the model's input, and --length tokens for text. Files of more than 2 GiB keep their weights in \
        OUT.data beside OUT. LSTMs are unrolled over time, so their length is fixed.
        """)

    @Argument(help: ArgumentHelp("A run directory, a Hugging Face or sentence-transformers folder, or a model name.", valueName: "source"))
    var source: String
    @Option(name: .long, help: ArgumentHelp("The ONNX file to write.", valueName: "model.onnx")) var out: String
    @Option(name: .long, help: "ONNX opset, 13 to 21 (LayerNormalization is native from 17, Gelu from 20).")
    var opset: Int = ONNXExportOptions.defaultOpset
    @Option(name: .long, help: ArgumentHelp("Dynamic axes, comma-separated: batch, sequence (text models), or none.", valueName: "axes"))
    var dynamic: String = "batch"
    @Flag(name: .customLong("kv-cache"), help: "GPT only: one decoding step with the key-value cache as inputs and outputs (past_key_values.N.key/value, past_length → present.*); --length new tokens per step, or steps of any length with --dynamic sequence.")
    var keyValueCache = false
    @OptionGroup var options: ModelOptions

    func run() throws {
        try options.validateValues()
        guard ONNXExportOptions.supportedOpsets.contains(opset) else {
            throw CommandError("--opset \(opset) is not supported: choose 13 to 21")
        }
        let axes = try dynamicAxes()
        let url = URL(fileURLWithPath: out)
        var isDirectory: ObjCBool = false
        guard !out.isEmpty, FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw CommandError("--out '\(out)': the folder \(url.deletingLastPathComponent().path) does not exist")
        }
        let (description, model, exampleShape, length) = try load()
        var zoo = ZooExport(batch: 1, length: length, exampleShape: exampleShape, dynamicAxes: axes, options: ONNXExportOptions(opset: opset))
        if axes.contains("batch") { zoo.batch = 2 }
        let proto: Onnx_ModelProto
        do {
            if keyValueCache {
                guard let gpt = model as? GPT else { throw CommandError("--kv-cache is for GPT models; \(description) is not one") }
                proto = try zoo.exportWithCache(gpt)
            } else {
                if axes.contains("sequence") && exampleShape != nil {
                    throw CommandError("--dynamic sequence is for text models; \(description) reads \(exampleShape!)")
                }
                proto = try zoo.export(model)
            }
        } catch let error as ONNXExportError {
            throw CommandError("\(description): \(error)")
        }
        let data = try ONNXExporter.write(proto, to: url)
        func describe(_ values: [Onnx_ValueInfoProto]) -> String {
            values.map { v in "\(v.name) [\(v.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }.joined(separator: ", "))]" }
                .joined(separator: ", ")
        }
        print("\(out): \(description), opset \(opset), \(proto.graph.node.count) nodes, \(proto.graph.initializer.count) initializers"
              + (data.map { " (weights in \($0.lastPathComponent))" } ?? ""))
        print("  inputs: \(describe(proto.graph.input))")
        print("  outputs: \(describe(proto.graph.output))")
    }

    private func dynamicAxes() throws -> Set<String> {
        if dynamic == "none" { return [] }
        let names = dynamic.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for name in names where !ZooExport.axisNames.contains(name) {
            throw CommandError("--dynamic '\(dynamic)': unknown axis '\(name)' (allowed: batch, sequence, or none)")
        }
        return Set(names)
    }

    /// The model, its description, one example's shape (nil for text) and the text length.
    private func load() throws -> (String, Module, [Int]?, Int) {
        let folder = URL(fileURLWithPath: source)
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: folder.appendingPathComponent("modules.json").path) {
            let embedder = try SentenceEmbeddingModel(pretrained: folder)
            return ("\(source) (sentence-transformers)", embedder, nil, try textLength(embedder.transformer.config.maxPositionEmbeddings))
        }
        if fileManager.fileExists(atPath: folder.appendingPathComponent("config.json").path),
           !fileManager.fileExists(atPath: folder.appendingPathComponent(ModelCard.fileName).path) {
            let bert = try BERTModel(pretrained: folder)
            return ("\(source) (BERT)", bert, nil, try textLength(bert.config.maxPositionEmbeddings))
        }
        let chosen = try options.resolve(source, examples: 1)
        guard let module = chosen.model as? Module else { throw CommandError("\(chosen.description) is not a module that export can trace") }
        if case .tokens(_, _, let maxLength, _) = chosen.input {
            return (chosen.description, module, nil, try textLength(maxLength))
        }
        return (chosen.description, module, chosen.input.shape, 1)
    }

    /// Tokens traced: --length, else a short sequence when the length is dynamic and the
    /// model's whole context when it is fixed.
    private func textLength(_ maximum: Int) throws -> Int {
        if let length = options.length {
            guard length <= maximum else { throw CommandError("--length \(length) is more than the \(maximum) tokens the model reads") }
            return length
        }
        if keyValueCache { return 1 }
        // A dynamic length is traced at two more tokens too.
        return dynamic.contains("sequence") ? max(1, min(8, maximum - 2)) : maximum
    }
}
