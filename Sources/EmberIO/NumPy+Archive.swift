import Ember
import Foundation

/// `.npz` archives: a zip file of `.npy` members, as `np.savez` (stored) and
/// `np.savez_compressed` (deflated) write them.
extension NumPy {
    /// Every array of a `.npz` file, keyed by member name without the `.npy` suffix (as
    /// `np.load(...).files` lists them). Members are checked against their CRC-32; members
    /// that are not `.npy` arrays are refused.
    public static func loadArchive(contentsOf url: URL) throws -> [String: Tensor] {
        try decodeArchive(mapped(url, format: .npz), source: url.path)
    }

    /// The arrays of a `.npz` file held in memory; `source` names it in errors.
    public static func decodeArchive(_ data: Data, source: String = "<memory>") throws -> [String: Tensor] {
        let archive: ZipArchive
        do {
            archive = try ZipArchive(data)
        } catch {
            throw FileError(.npz, path: source, problem: error.problem)
        }
        var arrays = [String: Tensor]()
        for member in archive.members {
            guard member.name.hasSuffix(".npy") else {
                throw FileError(.npz, path: source, member: member.name, problem: "not a .npy array (np.load would return its raw bytes)")
            }
            let key = String(member.name.dropLast(4))
            guard arrays[key] == nil else { throw FileError(.npz, path: source, member: member.name, problem: "the archive holds two members of this name") }
            do {
                let contents = try archive.contents(of: member)
                arrays[key] = try contents.withUnsafeBytes { try decodeArray($0) }
            } catch let error as FormatProblem {
                throw FileError(.npz, path: source, member: member.name, problem: error.problem)
            }
        }
        return arrays
    }

    /// The bytes of a `.npz` file holding `arrays`, members in key order; deflated like
    /// `np.savez_compressed` when `compressed`, else stored like `np.savez`.
    public static func encodeArchive(_ arrays: [String: Tensor], compressed: Bool = false) throws -> Data {
        var data = Data()
        try writeArchive(arrays, compressed: compressed, source: "<memory>") { data.append($0.assumingMemoryBound(to: UInt8.self)) }
        return data
    }

    /// Writes `arrays` as a `.npz` file, deflated like `np.savez_compressed` when `compressed`,
    /// else stored like `np.savez`. Atomic, and streamed one member at a time.
    public static func writeArchive(_ arrays: [String: Tensor], compressed: Bool = false, to url: URL) throws {
        try AtomicFile.replace(url, format: .npz) { append in
            try writeArchive(arrays, compressed: compressed, source: url.path, to: append)
        }
    }

    private static func writeArchive(_ arrays: [String: Tensor], compressed: Bool, source: String,
                                     to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var writer = ZipWriter()
        for (key, tensor) in arrays.sorted(by: { $0.key < $1.key }) {
            let contents: [UInt8]
            do {
                contents = try encodeArray(tensor)
            } catch {
                throw FileError(.npz, path: source, member: key + ".npy", problem: error.problem)
            }
            try writer.add(name: key + ".npy", contents: contents, deflated: compressed, to: sink)
        }
        try writer.finish(to: sink)
    }
}
