import EmberIO
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
            throw FileError(.huggingFaceModel, path: url.path, problem: "there is no such folder (expected a Hugging Face model folder with config.json and model.safetensors)")
        }
        guard isDirectory.boolValue else {
            throw FileError(.huggingFaceModel, path: url.path, problem: "is a file, not a model folder (expected a folder with config.json and model.safetensors)")
        }
        self.url = url
    }

    /// The URL of `name` (a relative path) inside the folder.
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    public func contains(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name).path) }

    /// Decodes the JSON file `name`; errors name the file and the key that does not fit.
    public func decode<T: Decodable>(_ type: T.Type, from name: String, format: FileError.Format = .huggingFaceModel) throws -> T {
        guard contains(name) else {
            throw FileError(.huggingFaceModel, path: url.path, problem: "the folder has no \(name)")
        }
        return try JSONFile.decode(type, from: file(name), format: format)
    }

    /// The model's `config.json`.
    public func config<Config: Decodable>(_ type: Config.Type) throws -> Config {
        try decode(type, from: "config.json", format: .huggingFaceConfig)
    }

    /// The weights: `model.safetensors`, else the shards that `model.safetensors.index.json` lists.
    public func weights() throws -> PretrainedWeights {
        if contains("model.safetensors") { return try PretrainedWeights(file: file("model.safetensors")) }
        if contains("model.safetensors.index.json") { return try PretrainedWeights(index: file("model.safetensors.index.json")) }
        let pickle = ["pytorch_model.bin", "pytorch_model.bin.index.json"].filter(contains)
        let hint = pickle.isEmpty ? "" : "; it holds \(pickle.joined(separator: " and ")), PyTorch's pickle format, which Ember does not read (convert it with safetensors' convert script or save_pretrained(safe_serialization=True))"
        throw FileError(.huggingFaceModel, path: url.path, problem: "no weights found: expected model.safetensors or a sharded checkpoint's model.safetensors.index.json\(hint)")
    }
}
