import Ember
import EmberRuns
import Foundation

/// A classifier from an `ember train` run folder, served through its `Predictor`: the
/// input as the run's model card says, the outputs `probabilities` (one per class) and
/// `label` (the most likely class).
final class RunServable: Servable, @unchecked Sendable {
    let predictor: Predictor
    let signature: Signature
    let inputKind: InputKind
    /// Image and feature models run compiled for inference (batch norm folded into the
    /// convolutions, elementwise tails fused, buffers planned), traced once per shape bucket:
    /// a batch is padded to the next power of two, so at most log2(max batch) + 1 traces.
    /// Text batches vary in length as well, so text models run eagerly.
    private let compiled: CompiledFunction?

    var classNames: [String] { predictor.classNames }

    init(folder: URL) throws {
        predictor = try Predictor(run: folder)
        let card = predictor.card
        let input: TensorSpec
        switch card.input {
        case .image(let channels, let height, let width, _, _):
            inputKind = .image(channels: channels, height: height, width: width)
            input = TensorSpec(name: "image", datatype: .fp32, shape: [-1, channels, height, width])
        case .features(let names, _, _):
            inputKind = .features(names: names)
            input = TensorSpec(name: "features", datatype: .fp32, shape: [-1, names.count])
        case .tokens:
            inputKind = .text
            input = TensorSpec(name: "text", datatype: .bytes, shape: [-1])
        }
        let model = predictor.run.model
        compiled = inputKind == .text ? nil : compile({ (x: Tensor) in model(x).softmax(axis: -1) }, options: .inference)
        signature = Signature(inputs: [input], outputs: [
            TensorSpec(name: "probabilities", datatype: .fp32, shape: [-1, card.classNames.count]),
            TensorSpec(name: "label", datatype: .bytes, shape: [-1]),
        ], classifies: true)
    }

    func prepare(_ example: ExampleInput) throws -> PreparedExample {
        let preprocessing = predictor.preprocessing
        switch example {
        case .image(let image): return .tensor(try preprocessing.tensor(image: image))
        case .pixels(let values): return .tensor(try preprocessing.tensor(pixels: Tensor(values, shape: predictor.card.input.shape)))
        case .features(let row): return .tensor(try preprocessing.tensor(features: row))
        case .text(let text): return .tensor(try preprocessing.tensor(text: text))
        case .tensors: throw RequestError(.badRequest, "the model takes one input, as its signature says")
        }
    }

    func forward(_ batch: [PreparedExample]) -> [ExampleOutput] {
        let tensors = batch.map { example -> Tensor in
            guard case .tensor(let tensor) = example else { preconditionFailure("a run's examples are tensors") }
            return tensor
        }
        guard let compiled else {
            return predictor.classify(tensors).map { ["probabilities": .floats($0.probabilities), "label": .string($0.label)] }
        }
        // The padding repeats the last example: always a valid input, and its rows are dropped.
        let bucket = 1 << (Int.bitWidth - (tensors.count - 1).leadingZeroBitCount)
        let padded = tensors + Array(repeating: tensors[tensors.count - 1], count: bucket - tensors.count)
        let probabilities = noGrad { compiled(predictor.preprocessing.batch(padded)) }
        return (0..<tensors.count).map { row in
            let values = probabilities[row].floats
            let best = values.indices.max { values[$0] < values[$1] } ?? 0
            return ["probabilities": .floats(values), "label": .string(predictor.classNames[best])]
        }
    }
}
