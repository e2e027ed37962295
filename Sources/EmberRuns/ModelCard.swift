import EmberIO
import Foundation

/// What one example given to a trained model is, and how raw input becomes one: enough to
/// use a checkpoint without its training data.
public enum ModelInput: Codable, Equatable {
    /// An image, converted to `channels` and resized to height x width, scaled to [0, 1] and
    /// normalized with per-channel `mean` and `std`.
    case image(channels: Int, height: Int, width: Int, mean: [Float], std: [Float])
    /// Numeric features read by name from CSV rows, standardized with `mean` and `std`
    /// when the training file was.
    case features(names: [String], mean: [Float]?, std: [Float]?)
    /// Token ids of a text: from the tokenizer folder (nil: UTF-8 bytes), at most
    /// `maxLength` of them, batches padded with `paddingID`.
    case tokens(tokenizer: String?, vocabularySize: Int, maxLength: Int, paddingID: Int)

    /// One example's tensor shape.
    public var shape: [Int] {
        switch self {
        case .image(let channels, let height, let width, _, _): return [channels, height, width]
        case .features(let names, _, _): return [names.count]
        case .tokens(_, _, let maxLength, _): return [maxLength]
        }
    }
}

/// A run's `model.json`: the architecture, its input and its classes (none for a language
/// model, whose outputs are tokens), written when the run starts, so that `eval`, `predict`,
/// `summary` and `generate` can rebuild the model.
public struct ModelCard: Codable, Equatable {
    public var model: String
    public var input: ModelInput
    public var classNames: [String]

    public init(model: String, input: ModelInput, classNames: [String]) {
        self.model = model
        self.input = input
        self.classNames = classNames
    }

    /// The size of the model's output layer.
    public var outputs: Int {
        if case .tokens(_, let vocabularySize, _, _) = input, classNames.isEmpty { return vocabularySize }
        return classNames.count
    }

    public static let fileName = "model.json"

    public func write(to directory: URL) throws {
        try JSONFile.write(self, to: directory.appendingPathComponent(Self.fileName), format: .runModel)
    }

    /// The description of the run in `directory`, checked as `problem` says before any model
    /// is built from it.
    public static func read(from directory: URL) throws -> ModelCard {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RunError("\(directory.path) has no \(fileName): it is not a directory written by ember train")
        }
        let card = try JSONFile.decode(ModelCard.self, from: url, format: .runModel)
        if let (member, problem) = card.problem { throw FileError(.runModel, path: url.path, member: member, problem: problem) }
        return card
    }
}
