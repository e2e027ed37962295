import Ember
import EmberIO
import Foundation

/// The tensors of a checkpoint, by name: one safetensors file, or the shards of a sharded
/// checkpoint. Files are memory-mapped (`SafeTensorsFile`) and tensors copied out one at a
/// time, so a checkpoint never sits whole in memory twice. Everything is validated on opening:
/// the index, every shard's header, and that each listed tensor is in its shard.
public final class PretrainedWeights: Sendable {
    /// The file, or the index of a sharded checkpoint, for error messages.
    public let source: String
    /// Tensor names, sorted.
    public let names: [String]
    /// The safetensors files, in the order of their names.
    public let files: [URL]
    private let locations: [String: SafeTensorsFile]

    /// One safetensors file.
    public init(file url: URL) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        source = url.path
        names = file.names.sorted()
        files = [url]
        locations = Dictionary(uniqueKeysWithValues: file.names.map { ($0, file) })
    }

    /// A sharded checkpoint: `index` is `model.safetensors.index.json` (`{"weight_map":
    /// {"tensor name": "shard file name", ...}}`), the shards sit beside it.
    public init(index url: URL) throws {
        struct Index: Decodable {
            let weightMap: [String: String]
            enum CodingKeys: String, CodingKey { case weightMap = "weight_map" }
        }
        let folder = url.deletingLastPathComponent()
        let index = try JSONFile.decode(Index.self, from: url, format: .huggingFaceModel)
        guard !index.weightMap.isEmpty else {
            throw FileError(.huggingFaceModel, path: url.path, problem: "weight_map lists no tensors")
        }
        var shards = [String: SafeTensorsFile]()
        for shard in Set(index.weightMap.values).sorted() {
            // Shards are files beside the index; a path would reach outside the folder.
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw FileError(.huggingFaceModel, path: url.path, problem: "weight_map names the shard \"\(shard)\", which is not a file name in the folder")
            }
            let shardURL = folder.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardURL.path) else {
                let tensors = index.weightMap.filter { $0.value == shard }.keys.sorted()
                throw FileError(.huggingFaceModel, path: folder.path, problem: "missing shard \(shard), listed in \(url.lastPathComponent) for \(tensors.count) tensor(s): \(listed(tensors))")
            }
            shards[shard] = try SafeTensorsFile(contentsOf: shardURL)
        }
        var locations = [String: SafeTensorsFile]()
        for (name, shard) in index.weightMap {
            let file = shards[shard]!
            guard file.names.contains(name) else {
                throw FileError(.huggingFaceModel, path: file.source, problem: "has no tensor \"\(name)\", which \(url.lastPathComponent) places in this shard")
            }
            locations[name] = file
        }
        source = url.path
        names = locations.keys.sorted()
        files = shards.keys.sorted().map { folder.appendingPathComponent($0) }
        self.locations = locations
    }

    public func contains(_ name: String) -> Bool { locations[name] != nil }

    /// The shape and dtype of `name` as loaded (F16 and BF16 stay half precision until cast).
    public func spec(_ name: String) throws -> TensorSpec {
        try file(name).spec(name)
    }

    /// Copies the tensor `name` out of its file.
    public func tensor(named name: String) throws -> Tensor {
        try file(name).tensor(named: name)
    }

    private func file(_ name: String) throws -> SafeTensorsFile {
        guard let file = locations[name] else {
            throw FileError(.huggingFaceModel, path: source, problem: "the checkpoint has no tensor \"\(name)\"")
        }
        return file
    }

}
