import Ember
import EmberModels
import EmberONNX
import Foundation

/// W4 and W7 through an imported ONNX file (`ember bench W4 --onnx FILE`): the model is
/// ONNXModel's import of a torch.onnx.export, fed what the native workload feeds (8 random
/// images; the 32 MiniLM sentences tokenized to 128 tokens, by the graph's input names).
/// Compiled, the forward is `compile(_, options: .inference)` over the imported graph.
/// bench/peers.py --onnx FILE runs onnxruntime on the same file.
final class ONNXInferenceWorkload: Workload {
    let id: String
    let file: URL
    let compiled: Bool
    var impl: String { compiled ? "ember-onnx-compiled" : "ember-onnx" }
    var name: String { "\(id == "W4" ? "resnet50-infer" : "bert-embed") from \(file.lastPathComponent)" + (compiled ? ", compiled" : "") }
    var unit: String { id == "W4" ? "images/s" : "sentences/s" }
    private lazy var loaded = Result { try ONNXModel(contentsOf: file) }
    private var arguments: [Tensor] = []
    private var forward: CompiledFunction!

    init(id: String, file: URL, compiled: Bool) {
        self.id = id
        self.file = file
        self.compiled = compiled
    }

    var unavailableReason: String? {
        do {
            let model = try loaded.get()
            arguments = try inputs(for: model)
            _ = try noGrad { try model.run(arguments) }
            return nil
        } catch {
            return "\(file.path) cannot run as \(id): \(error)"
        }
    }

    private func inputs(for model: ONNXModel) throws -> [Tensor] {
        if id == "W4" {
            return [Tensor.randomNormal([8, 3, 224, 224], source: .key(Key(4)))]
        }
        let embedder = try SentenceEmbedder(pretrained: URL(fileURLWithPath: SentenceEmbeddingWorkload.folder))
        let batch = embedder.tokenize(SentenceEmbeddingWorkload.sentences, padding: .maxLength(128)).tensors()
        let byName = ["input_ids": batch.inputIDs, "attention_mask": batch.attentionMask, "token_type_ids": batch.tokenTypeIDs]
        return try model.inputs.map { input in
            guard let tensor = byName[input.name] else {
                throw CommandError("W7 feeds input_ids, attention_mask and token_type_ids; the model also wants '\(input.name)'")
            }
            return tensor
        }
    }

    func prepare() {
        let model = try! loaded.get()
        if compiled { forward = compile({ model($0) }, options: .inference) }
    }

    func timedRun() -> Double {
        let model = try! loaded.get()
        return noGrad { compiled ? elapsed { _ = forward(arguments) } : elapsed { _ = model(arguments) } }
    }

    func figure(seconds: Double) -> Double { Double(arguments[0].shape[0]) / seconds }
}
