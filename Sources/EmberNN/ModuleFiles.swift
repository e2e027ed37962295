import EmberIO
import Foundation

extension Module {
    /// Writes the state dict to a safetensors file (atomically), with `{"format": "pt"}`
    /// metadata so that PyTorch and Hugging Face load it as one of their own.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(stateDict(), metadata: ["format": "pt"].merging(metadata) { _, new in new }, to: url)
    }

    /// Loads a safetensors file written by Ember or PyTorch into this module by name.
    /// Errors name the file and what did not fit (missing, unexpected keys, shapes).
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> StateDictReport {
        let state = try SafeTensors.load(contentsOf: url)
        do {
            return try loadStateDict(state, strict: strict)
        } catch let error as StateDictError {
            throw StateDictError(problems: error.problems, source: url.path)
        }
    }
}
