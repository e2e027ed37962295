import EmberIO
import Foundation

/// Reading dataset files whole, plain or gzip-compressed.
enum DataFile {
    /// The contents of `url`, gunzipped when they start with gzip's magic number (whatever
    /// the file's name says).
    static func contents(of url: URL) throws(DataFileError) -> [UInt8] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataFileError(source: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        guard Compression.isGzip(data) else { return [UInt8](data) }
        do {
            return try Compression.gunzip(data, source: url.path)
        } catch {
            throw DataFileError(source: error.source, problem: error.problem)
        }
    }

    /// The first of `candidates` (names in `directory`) that exists; the error lists them all.
    static func find(_ candidates: [String], in directories: [URL], dataset: String) throws(DataFileError) -> URL {
        for directory in directories {
            for name in candidates {
                let url = directory.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
        }
        throw DataFileError(source: directories[0].path, problem: "missing \(dataset) file: looked for \(candidates.joined(separator: ", ")) in \(directories.map(\.path).joined(separator: " and "))")
    }
}
