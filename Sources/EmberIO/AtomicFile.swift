import Foundation

/// Replacing a file so that an error or crash mid-write never leaves a partial file at its
/// path: the bytes go to a temporary file in the same directory (so the rename stays within
/// one file system), are flushed to disk, and the temporary file is renamed over the target.
/// On failure the temporary file is removed and the old file, if any, is untouched. Errors
/// are `FileError`s of `format`, naming the step that failed and the system's reason.
public enum AtomicFile {
    /// Replaces `url` with `data`.
    public static func write(_ data: Data, to url: URL, format: FileError.Format) throws {
        try replace(url, format: format) { append in try data.withUnsafeBytes { try append($0) } }
    }

    /// `fill` is handed a function that appends bytes to the new file.
    public static func replace(_ url: URL, format: FileError.Format, fill: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        func failure(_ step: String) -> FileError {
            FileError(format, path: url.path, problem: "\(step): \(String(cString: strerror(errno)))")
        }
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create the temporary file \(temporary)") }
        var isOpen = true
        var isRenamed = false
        defer {
            if isOpen { close(descriptor) }
            if !isRenamed { unlink(temporary) }
        }

        try fill { bytes in
            var written = 0
            while written < bytes.count {
                let n = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure("cannot write the temporary file \(temporary)") }
                written += n
            }
        }
        guard fsync(descriptor) == 0 else { throw failure("cannot flush the temporary file \(temporary) to disk") }
        isOpen = false
        guard close(descriptor) == 0 else { throw failure("cannot close the temporary file \(temporary)") }
        guard rename(temporary, url.path) == 0 else { throw failure("cannot rename the temporary file \(temporary) over the target") }
        isRenamed = true

        // Flushing the directory makes the rename itself survive a power loss. Best effort: some
        // file systems refuse to sync directories, and the new file is in place either way.
        let directoryDescriptor = open(directory.path, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}
