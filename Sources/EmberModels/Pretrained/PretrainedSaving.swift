import EmberIO
import EmberNN
import Foundation

extension Module {
    /// Writes a Hugging Face model folder that `from_pretrained` reads: `config` as
    /// `config.json` and the state dict, under its Hugging Face keys, as `model.safetensors`
    /// (each file written atomically). The folder is created if needed.
    public func savePretrained(to folder: URL, config: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try AtomicFile.write(encoder.encode(config), to: folder.appendingPathComponent("config.json"))
        } catch let error as FileWriteError {
            throw PretrainedError(source: folder.path, problem: "cannot write config.json: \(error.problem)")
        } catch {
            throw PretrainedError(source: folder.path, problem: "cannot write config.json: \(error.localizedDescription)")
        }
        try save(to: folder.appendingPathComponent("model.safetensors"))
    }
}
