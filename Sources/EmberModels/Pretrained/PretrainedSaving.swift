import EmberIO
import EmberNN
import Foundation

extension Module {
    /// Writes a Hugging Face model folder that `from_pretrained` reads: `config` as
    /// `config.json` and the state dict, under its Hugging Face keys, as `model.safetensors`
    /// (each file written atomically). The folder is created if needed.
    public func savePretrained(to folder: URL, config: some Encodable) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FileError(.huggingFaceModel, path: folder.path, problem: "cannot create the folder: \(FileError.systemReason(error))")
        }
        try JSONFile.write(config, to: folder.appendingPathComponent("config.json"), format: .huggingFaceConfig)
        try save(to: folder.appendingPathComponent("model.safetensors"))
    }
}
