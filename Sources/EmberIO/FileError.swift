import Foundation

/// A file that cannot be read, written or used, for every format Ember reads: which file,
/// which part of it (an archive member, a JSON field, a CSV line), and what is wrong, said
/// so that a user can fix it. Its description is the one line a user sees.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The kinds of files Ember reads and writes, named as a user knows them.
    public enum Format: String, Sendable {
        case safetensors, npy, npz, zip, gzip
        case png = "PNG", jpeg = "JPEG", netpbm = "Netpbm", image, imageFolder = "image folder"
        case idx = "IDX", cifar10 = "CIFAR-10", mnist = "MNIST", csv = "CSV", text
        case tokenizer, huggingFaceModel = "Hugging Face model", huggingFaceConfig = "Hugging Face config"
        case runModel = "run model description", runConfig = "run configuration", checkpoint
        case tensorBoard = "TensorBoard event file", report = "training report", json = "JSON"
        case tfRecord = "TFRecord", onnx = "ONNX"
    }

    public let format: Format
    /// The file's path (or a directory's, when files are missing from it; or the name given
    /// to a decoder of bytes in memory).
    public let path: String
    /// The part of the file concerned, when there is one: `weights.npy`, `input.image.channels`,
    /// `line 7, column 3 ("age")`.
    public let member: String?
    /// What is wrong and, where it helps, what is allowed.
    public let problem: String

    public init(_ format: Format, path: String, member: String? = nil, problem: String) {
        self.format = format
        self.path = path
        self.member = member
        self.problem = problem
    }

    public var description: String {
        "\(format.rawValue) \(path)" + (member.map { ", \($0)" } ?? "") + ": " + problem
    }

    /// The whole contents of `url`, or an error saying why not in words (missing, a
    /// directory, no permission) rather than Foundation's error codes.
    public static func contents(of url: URL, format: Format, options: Data.ReadingOptions = []) throws(FileError) -> Data {
        try requireFile(url, format: format)
        do {
            // Foundation leaks a page when it reads an empty file (found by fuzzing).
            if try url.resourceValues(forKeys: [.fileSizeKey]).fileSize == 0 { return Data() }
            return try Data(contentsOf: url, options: options)
        } catch {
            throw FileError(format, path: url.path, problem: "cannot be read: \(systemReason(error))")
        }
    }

    /// Throws unless `url` names an existing file (not a directory).
    public static func requireFile(_ url: URL, format: Format) throws(FileError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw FileError(format, path: url.path, problem: "no such file")
        }
        guard !isDirectory.boolValue else { throw FileError(format, path: url.path, problem: "is a directory, not a file") }
    }

    /// Why a Foundation call on a file failed, as the system says it ("Permission denied").
    public static func systemReason(_ error: any Error) -> String {
        let error = error as NSError
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
        switch error.code {
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
        case NSFileReadNoSuchFileError, NSFileNoSuchFileError: return "no such file"
        case NSFileWriteOutOfSpaceError: return "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: return "the file system is read-only"
        default: return "the system reports error \(error.code)"
        }
    }
}

/// A problem found inside a file by a parser that is not told the file's name (a `.npy`
/// header, a zip record); the caller makes it a `FileError`.
struct FormatProblem: Error {
    let problem: String
    init(_ problem: String) { self.problem = problem }
}
