import Ember
import EmberData
import Foundation

/// How raw input becomes the tensor of one example, as the model's validation data was
/// prepared in training: images converted, resized and normalized; feature rows
/// standardized; texts tokenized. Built once per model (a tokenizer folder is read once).
public struct Preprocessing {
    public let input: ModelInput
    private let tokenizer: TextTokenizer?

    public init(_ input: ModelInput) throws {
        self.input = input
        if case .tokens(let folder, let vocabularySize, _, _) = input {
            tokenizer = try TextTokenizer(folder: folder, fitting: vocabularySize)
        } else {
            tokenizer = nil
        }
    }

    /// An image model's example: `image` converted to the model's channels and size, scaled
    /// to [0, 1] and normalized.
    public func tensor(image: Image) throws -> Tensor {
        guard case .image(let channels, let height, let width, let mean, let std) = input else {
            throw RunError("the model reads \(kind), not images")
        }
        var prepared = image.converted(toChannels: channels)
        if prepared.height != height || prepared.width != width {
            prepared = Resize(height, width)(prepared)
        }
        return Normalize(mean: mean, std: std)(ToTensor()(prepared))
    }

    /// An image model's example from pixel values already at the model's channels and size
    /// (channels first, scaled to [0, 1]): normalized as in training.
    public func tensor(pixels: Tensor) throws -> Tensor {
        guard case .image(_, _, _, let mean, let std) = input else { throw RunError("the model reads \(kind), not images") }
        guard pixels.shape == input.shape else { throw RunError("an image has shape \(pixels.shape); the model takes \(input.shape) (channels, height, width)") }
        return Normalize(mean: mean, std: std)(pixels.cast(to: .float32))
    }

    /// A feature model's example: one row of raw feature values, in the order of the
    /// card's names, standardized with the training file's statistics when it was.
    public func tensor(features row: [Float]) throws -> Tensor {
        guard case .features(let names, let mean, let std) = input else { throw RunError("the model reads \(kind), not feature rows") }
        guard row.count == names.count else {
            throw RunError("a feature row has \(row.count) values; the model reads \(names.count) (\(names.joined(separator: ", ")))")
        }
        var values = row
        if let mean, let std {
            for index in values.indices { values[index] = (values[index] - mean[index]) / std[index] }
        }
        return Tensor(values, shape: [values.count])
    }

    /// A text model's example: the text's token ids, at most the model's maximum length.
    public func tensor(text: String) throws -> Tensor {
        guard let tokenizer, case .tokens(_, _, let maxLength, _) = input else { throw RunError("the model reads \(kind), not text") }
        let ids = tokenizer.encode(text, maxLength: maxLength)
        // A recurrent model has no state to classify a text of no tokens from.
        guard !ids.isEmpty else { throw RunError("the text \"\(text)\" has no tokens: give some text to classify") }
        return Tensor(ids.map(Int64.init), shape: [ids.count])
    }

    /// Examples stacked into a batch; token sequences padded on the right to the longest.
    public func batch(_ tensors: [Tensor]) -> Tensor {
        guard case .tokens(_, _, _, let paddingID) = input else { return Tensor.stack(tensors) }
        let sequences = tensors.map { $0.scalars(as: Int64.self).map(Int.init) }
        return TextBatches.classification(padding: paddingID)(sequences.map { ($0, 0) }).inputs
    }

    /// What the model reads, for errors.
    var kind: String {
        switch input {
        case .image: return "images"
        case .features: return "feature rows"
        case .tokens: return "text"
        }
    }
}
