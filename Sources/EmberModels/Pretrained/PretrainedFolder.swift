import Foundation

/// A Hugging Face model folder, as `save_pretrained` writes it and the Hub serves it:
/// `config.json` beside the weights, either one `model.safetensors` or shards listed by
/// `model.safetensors.index.json`. Errors name the folder and the file that is missing or wrong.
public struct PretrainedFolder: Sendable {
    public let url: URL

    /// Opens `url`, which must be an existing directory.
    public init(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw PretrainedError(source: url.path, problem: "there is no such folder (expected a Hugging Face model folder with config.json and model.safetensors)")
        }
        guard isDirectory.boolValue else {
            throw PretrainedError(source: url.path, problem: "is a file, not a model folder (expected a folder with config.json and model.safetensors)")
        }
        self.url = url
    }

    /// The URL of `name` (a relative path) inside the folder.
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    public func contains(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name).path) }

    /// Decodes the JSON file `name`; errors name the file and the key that does not fit.
    public func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        let url = file(name)
        guard contains(name) else {
            throw PretrainedError(source: self.url.path, problem: "the folder has no \(name)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PretrainedError(source: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw PretrainedError(source: url.path, problem: Self.explain(error))
        }
    }

    /// The model's `config.json`.
    public func config<Config: Decodable>(_ type: Config.Type) throws -> Config {
        try decode(type, from: "config.json")
    }

    /// The weights: `model.safetensors`, else the shards that `model.safetensors.index.json` lists.
    public func weights() throws -> PretrainedWeights {
        if contains("model.safetensors") { return try PretrainedWeights(file: file("model.safetensors")) }
        if contains("model.safetensors.index.json") { return try PretrainedWeights(index: file("model.safetensors.index.json")) }
        let pickle = ["pytorch_model.bin", "pytorch_model.bin.index.json"].filter(contains)
        let hint = pickle.isEmpty ? "" : "; it holds \(pickle.joined(separator: " and ")), PyTorch's pickle format, which Ember does not read (convert it with safetensors' convert script or save_pretrained(safe_serialization=True))"
        throw PretrainedError(source: url.path, problem: "no weights found: expected model.safetensors or a sharded checkpoint's model.safetensors.index.json\(hint)")
    }

    /// A decoding error as "key.path: what is wrong".
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            let keys = (context.codingPath + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + ": "
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "is not valid JSON (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription))"
        case .dataCorrupted(let context):
            return path(context) + context.debugDescription
        case .keyNotFound(let key, let context):
            return path(context, key) + "missing (a required key)"
        case .typeMismatch(let type, let context):
            return path(context) + "expected \(Self.describe(type))"
        case .valueNotFound(let type, let context):
            return path(context) + "expected \(Self.describe(type)), found null"
        @unknown default:
            return "\(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}
