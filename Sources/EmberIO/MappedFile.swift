import Foundation

extension Data {
    /// A file's bytes, memory-mapped. An empty file is read as empty data without mapping:
    /// Foundation leaks a page when it maps an empty file (found by fuzzing the .npy loader).
    public static func mapped(contentsOf url: URL) throws -> Data {
        if try url.resourceValues(forKeys: [.fileSizeKey]).fileSize == 0 { return Data() }
        return try Data(contentsOf: url, options: .alwaysMapped)
    }
}
