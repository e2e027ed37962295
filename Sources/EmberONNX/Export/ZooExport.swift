import Ember
import EmberModels
import EmberNN

/// The zoo's models with their inputs and outputs named as other exporters name them
/// (torchvision's `input`/`output`, Hugging Face's `input_ids`, `attention_mask`,
/// `last_hidden_state`, `logits`, sentence-transformers' `sentence_embedding`).
public struct ZooExport {
    /// The dynamic axes a zoo model can have: `batch`, and `sequence` for text models.
    public static let axisNames: Set<String> = ["batch", "sequence"]

    /// Sizes traced (the exported model runs at any size of a dynamic axis, and at exactly
    /// these of a fixed one): sequences of `length` tokens, `batch` of them.
    public var batch = 2
    public var length = 8
    /// One example's shape for image and feature models (C,H,W or N); nil for the zoo's
    /// usual input of the model.
    public var exampleShape: [Int]?
    /// Dynamic axes by name (`axisNames`).
    public var dynamicAxes: Set<String> = ["batch"]
    public var options = ONNXExportOptions()

    public init(batch: Int = 2, length: Int = 8, exampleShape: [Int]? = nil, dynamicAxes: Set<String> = ["batch"],
                options: ONNXExportOptions = ONNXExportOptions()) {
        self.batch = batch
        self.length = length
        self.exampleShape = exampleShape
        self.dynamicAxes = dynamicAxes
        self.options = options
    }

    /// `model` (a zoo model) in evaluation mode as an ONNX model.
    public func export(_ model: Module) throws -> Onnx_ModelProto {
        if let unknown = dynamicAxes.subtracting(Self.axisNames).sorted().first {
            throw ONNXExportError("unknown dynamic axis \(unknown): the zoo's models have batch and sequence")
        }
        var options = options
        options.graphName = "\(type(of: model))"
        return try ONNXExporter.exportInEvaluationMode(model) {
            switch model {
            case let gpt as GPT:
                options.axisMaxima["sequence"] = gpt.config.blockSize
                return try text(gpt, outputs: ["logits"], options) { [gpt.forward($0[0])] }
            case let embedder as SentenceEmbeddingModel:
                options.axisMaxima["sequence"] = embedder.transformer.config.maxPositionEmbeddings
                return try text(embedder, masked: true, outputs: ["sentence_embedding"], options) {
                    [embedder(inputIDs: $0[0], attentionMask: $0[1])]
                }
            case let bert as BERTModel:
                options.axisMaxima["sequence"] = bert.config.maxPositionEmbeddings
                let hasPooler = bert.pooler != nil
                return try text(bert, masked: true, typed: true, outputs: hasPooler ? ["last_hidden_state", "pooler_output"] : ["last_hidden_state"], options) {
                    let (last, pooled) = bert(inputIDs: $0[0], attentionMask: $0[1], tokenTypeIDs: $0[2])
                    return [last] + (pooled.map { [$0] } ?? [])
                }
            case let classifier as BERTForSequenceClassification:
                options.axisMaxima["sequence"] = classifier.config.maxPositionEmbeddings
                return try text(classifier, masked: true, typed: true, outputs: ["logits"], options) {
                    [classifier(inputIDs: $0[0], attentionMask: $0[1], tokenTypeIDs: $0[2])]
                }
            case let transformer as TransformerClassifier:
                options.axisMaxima["sequence"] = transformer.maxLength
                return try text(transformer, outputs: ["logits"], options) { [transformer.forward($0[0])] }
            case let lstm as LSTMClassifier:
                return try text(lstm, outputs: ["logits"], options) { [lstm.forward($0[0])] }
            case let layer as Module & Layer:
                guard !dynamicAxes.contains("sequence") else {
                    throw ONNXExportError("\(type(of: model)) takes no sequences: only batch can be dynamic")
                }
                guard let shape = exampleShape ?? Self.imageOrFeatureShape(model) else {
                    throw ONNXExportError("\(type(of: model)) is not a zoo model that export knows the input of")
                }
                let input = ONNXInput("input", [batch] + shape, dynamicAxes: dynamicAxes.contains("batch") ? [0: "batch"] : [:])
                return try ONNXExporter.export(inputs: [input], outputs: ["output"], parameters: ONNXExporter.stateNames(model),
                                               options: options) { x in [layer(x[0])] }
            default:
                throw ONNXExportError("\(type(of: model)) is not a zoo model that export knows the inputs of")
            }
        }
    }

    /// GPT with its key-value cache as inputs and outputs (Hugging Face's names:
    /// `past_key_values.N.key`/`.value` and `past_length` in, `present.N.key`/`.value` and
    /// `present_length` out): one step of `length` new tokens (1 for decoding) after the
    /// cached ones. The cache is static, [batch, heads, blockSize, headSize] per layer, as
    /// Ember's `KVCache`; the count of cached tokens says which slots hold tokens. With
    /// `sequence` dynamic one model takes steps of any length (a prompt, then single tokens):
    /// the merge into the cache and the positions are computed from the step's length.
    public func exportWithCache(_ model: GPT) throws -> Onnx_ModelProto {
        if let unknown = dynamicAxes.subtracting(Self.axisNames).sorted().first {
            throw ONNXExportError("unknown dynamic axis \(unknown): GPT with its cache has batch and sequence")
        }
        var options = options
        options.graphName = "GPT"
        options.axisMaxima["sequence"] = model.config.blockSize
        try checkTracedLength(options)
        let input = ONNXInput("input_ids", [batch, length], .int64, dynamicAxes: tokenAxes)
        let cacheNames = model.makeCache().namedTensors(batch: 1).map(\.name)
        let outputs = ["logits"] + cacheNames.map { $0.replacingOccurrences(of: "past_key_values", with: "present")
                                                      .replacingOccurrences(of: "past_length", with: "present_length") }
        return try ONNXExporter.exportInEvaluationMode(model) {
            try ONNXExporter.export(inputs: [input], outputs: [outputs[0]], parameters: ONNXExporter.stateNames(model),
                                    options: options) { scope, specs in
                let batch = specs[0].shape[0]
                let cache = model.makeCache(batchSize: batch)
                for ((name, tensor), output) in zip(cache.namedTensors(batch: batch), outputs.dropFirst()) {
                    scope.state(tensor, name: name, outputName: output)
                }
                return { x in
                    do {
                        return [try model.logits(x[0], cache: cache)]
                    } catch {
                        preconditionFailure("GPT export: \(error)")
                    }
                }
            }
        }
    }

    private func text(_ model: Module, masked: Bool = false, typed: Bool = false, outputs: [String], _ options: ONNXExportOptions,
                      _ forward: @escaping ([Tensor]) -> [Tensor]) throws -> Onnx_ModelProto {
        try checkTracedLength(options)
        let axes = tokenAxes
        var inputs = [ONNXInput("input_ids", [batch, length], .int64, dynamicAxes: axes)]
        if masked { inputs.append(ONNXInput("attention_mask", [batch, length], .int64, dynamicAxes: axes)) }
        if typed { inputs.append(ONNXInput("token_type_ids", [batch, length], .int64, dynamicAxes: axes)) }
        return try ONNXExporter.export(inputs: inputs, outputs: outputs, parameters: ONNXExporter.stateNames(model), options: options, forward)
    }

    /// The dynamic axes of token inputs [batch, length].
    private var tokenAxes: [Int: String] {
        var axes = [Int: String]()
        if dynamicAxes.contains("batch") { axes[0] = "batch" }
        if dynamicAxes.contains("sequence") { axes[1] = "sequence" }
        return axes
    }

    /// A dynamic length is traced at `length`, one and two more tokens (`SymbolicTrace`), which
    /// must fit the model's context.
    private func checkTracedLength(_ options: ONNXExportOptions) throws {
        guard dynamicAxes.contains("sequence"), let maximum = options.axisMaxima["sequence"], length + 2 > maximum else { return }
        throw ONNXExportError("a dynamic sequence is traced at \(length), \(length + 1) and \(length + 2) tokens, more than the model's "
                              + "\(maximum): trace at \(maximum - 2) or fewer")
    }

    /// One example's shape for the zoo's image and feature models.
    static func imageOrFeatureShape(_ model: Module) -> [Int]? {
        switch model {
        case let mlp as MLP: return [mlp.inputFeatures]
        case let lenet as LeNet5: return [lenet.inputChannels, lenet.inputSize, lenet.inputSize]
        case let resnet as ResNet: return [3, resnet.imageSize, resnet.imageSize]
        case let resnet as CIFARResNet: return [resnet.inputChannels, 32, 32]
        default: return nil
        }
    }
}
