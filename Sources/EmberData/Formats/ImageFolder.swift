import EmberIO
import Foundation

/// Images sorted into one folder per class (torchvision's ImageFolder, Keras's
/// image_dataset_from_directory): `root/cat/001.jpg`, `root/dog/xyz.png`, ... Class names
/// are the folder names in sorted order, so class ids are the same on every machine.
///
/// Images are found in each class folder and the folders below it (sorted by path);
/// PNG, JPEG and Netpbm files by their extension, whatever its case. Hidden files and files
/// of other kinds are skipped; a file of an image format that is not read (GIF, BMP, TIFF,
/// WebP, HEIC...) is an error rather than silently dropped training data, and so is a class
/// folder holding no image. Images are converted to `channels` (3, RGB, by default, as
/// torchvision's loader converts to RGB; nil keeps each file's own) and decoded when read;
/// with `verify`, every file is decoded once first (see `LabeledImageFiles`).
///
/// `classNames` gives the classes of another folder (a validation folder read with the
/// training folder's classes): each class folder must be one of them and takes its id from
/// the list; classes without a folder are allowed.
public struct ImageFolder: Dataset, Sendable {
    public let root: URL
    public let classNames: [String]
    private let images: LabeledImageFiles

    public var count: Int { images.files.count }
    /// Every image file, in the dataset's order (by class, then path).
    public var files: [URL] { images.files }
    public var labels: [Int] { images.labels }

    public init(directory root: URL, classNames given: [String]? = nil, channels: Int? = 3, verify: Bool = true,
                maximumPixels: Int = Image.defaultMaximumPixels) throws(FileError) {
        precondition(channels.map { (1...4).contains($0) } ?? true, "ImageFolder: channels must be 1 to 4, got \(channels!)")
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root.path, isDirectory: &isDirectory) else {
            throw FileError(.imageFolder, path: root.path, problem: "no such directory")
        }
        guard isDirectory.boolValue else { throw FileError(.imageFolder, path: root.path, problem: "is a file, not a directory of class folders") }
        let entries: [String]
        do {
            entries = try manager.contentsOfDirectory(atPath: root.path)
        } catch {
            throw FileError(.imageFolder, path: root.path, problem: "cannot be listed: \(FileError.systemReason(error))")
        }
        let folders = entries.filter { name in
            var isFolder: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isFolder) && isFolder.boolValue
        }.sorted()
        guard !folders.isEmpty else {
            throw FileError(.imageFolder, path: root.path, problem: "holds no class folders: expected one subfolder per class (root/cat/1.jpg, root/dog/2.png, ...)")
        }
        let classNames = given ?? folders
        if let stray = folders.first(where: { !classNames.contains($0) }) {
            throw FileError(.imageFolder, path: root.path, problem: "the class folder \"\(stray)\" is not one of the \(classNames.count) classes (\(classNames.prefix(10).joined(separator: ", "))\(classNames.count > 10 ? ", ..." : ""))")
        }

        var files = [URL](), labels = [Int](), empty = [String]()
        for name in folders {
            let label = classNames.firstIndex(of: name)!
            let found = try Self.imageFiles(in: root.appendingPathComponent(name, isDirectory: true))
            if found.isEmpty { empty.append(name) }
            files += found
            labels += Array(repeating: label, count: found.count)
        }
        guard empty.isEmpty else {
            let extensions = Image.fileExtensions.sorted().joined(separator: ", .")
            throw FileError(.imageFolder, path: root.path, problem: "class folder\(empty.count == 1 ? "" : "s") \(empty.map { "\"\($0)\"" }.joined(separator: ", ")) hold\(empty.count == 1 ? "s" : "") no images (readable: .\(extensions))")
        }
        self.root = root
        self.classNames = classNames
        images = LabeledImageFiles(files: files, labels: labels, channels: channels, maximumPixels: maximumPixels)
        if verify { try images.verify() }
    }

    public subscript(index: Int) -> (image: Image, label: Int) {
        images.example(index)
    }

    /// The image files in `folder` and its subfolders, sorted by path.
    private static func imageFiles(in folder: URL) throws(FileError) -> [URL] {
        let manager = FileManager.default
        guard let walker = manager.enumerator(at: folder, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) else {
            throw FileError(.imageFolder, path: folder.path, problem: "cannot be listed")
        }
        var files = [URL]()
        for case let url as URL in walker {
            let kind = url.pathExtension.lowercased()
            // A link to an image counts as the image.
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if Image.unreadableFileExtensions.contains(kind) {
                throw FileError(.imageFolder, path: url.path, problem: "\(kind.uppercased()) images are not read; convert to PNG or JPEG")
            }
            if Image.fileExtensions.contains(kind) { files.append(url) }
        }
        return files.sorted { $0.path < $1.path }
    }
}
