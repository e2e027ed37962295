import EmberIO
import Foundation

/// Images listed in a CSV file, one row per image: a column of paths and a column of labels
/// (the usual `CustomDataset` of PyTorch tutorials). Paths are relative to the CSV file's
/// folder unless absolute. The file must have a header naming its columns; the path column
/// is the first by default, the label column the one named "label", else the last. Labels
/// are read as `CSVOptions.classNames` says (integer class ids, or names numbered in sorted
/// order). Every listed file must exist; images are converted and verified as
/// `ImageFolder` does.
public struct CSVImageClassification: Dataset, Sendable {
    public let classNames: [String]
    private let images: LabeledImageFiles

    public var count: Int { images.files.count }
    public var files: [URL] { images.files }
    public var labels: [Int] { images.labels }

    public init(contentsOf url: URL, path: CSVColumn = 0, label: CSVColumn = .nameOrLast("label"),
                options: CSVOptions = CSVOptions(header: .present), channels: Int? = 3, verify: Bool = true,
                maximumPixels: Int = Image.defaultMaximumPixels) throws(FileError) {
        precondition(channels.map { (1...4).contains($0) } ?? true, "CSVImageClassification: channels must be 1 to 4, got \(channels!)")
        let table = try CSVTable(contentsOf: url, options: options)
        let pathColumn = try table.index(of: path), labelColumn = try table.index(of: label)
        guard pathColumn != labelColumn else {
            throw FileError(.csv, path: url.path, problem: "the image paths and the labels are the same column (\"\(table.columnNames[pathColumn])\")")
        }
        let folder = url.deletingLastPathComponent()
        var files = [URL]()
        for row in table.rows {
            let text = row.fields[pathColumn].trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { throw table.fail(row, pathColumn, "is not an image path") }
            let file = text.hasPrefix("/") ? URL(fileURLWithPath: text) : folder.appendingPathComponent(text)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
                throw table.fail(row, pathColumn, "names no file (looked for \(file.path))")
            }
            guard !isDirectory.boolValue else { throw table.fail(row, pathColumn, "is a directory, not an image file") }
            if Image.unreadableFileExtensions.contains(file.pathExtension.lowercased()) {
                throw table.fail(row, pathColumn, "is a \(file.pathExtension.uppercased()) image, which is not read; convert to PNG or JPEG")
            }
            files.append(file)
        }
        let labels: [Int]
        (classNames, labels) = try table.labels(column: labelColumn, classNames: options.classNames)
        images = LabeledImageFiles(files: files, labels: labels, channels: channels, maximumPixels: maximumPixels)
        if verify { try images.verify() }
    }

    public subscript(index: Int) -> (image: Image, label: Int) {
        images.example(index)
    }
}
