import EmberIO
import Foundation

/// Reading dataset files whole, plain or gzip-compressed.
enum DataFile {
    /// The contents of `url`, gunzipped when they start with gzip's magic number (whatever
    /// the file's name says).
    static func contents(of url: URL, format: FileError.Format) throws(FileError) -> [UInt8] {
        let data = try FileError.contents(of: url, format: format)
        guard Compression.isGzip(data) else { return [UInt8](data) }
        return try Compression.gunzip(data, source: url.path)
    }

    /// The first of `candidates` (names in `directory`) that exists; the error lists them all.
    static func find(_ candidates: [String], in directories: [URL], format: FileError.Format) throws(FileError) -> URL {
        for directory in directories {
            for name in candidates {
                let url = directory.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
        }
        throw FileError(format, path: directories[0].path, problem: "missing \(format.rawValue) file: looked for \(candidates.joined(separator: ", ")) in \(directories.map(\.path).joined(separator: " and "))")
    }
}
