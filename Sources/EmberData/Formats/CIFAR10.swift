import EmberIO
import Foundation

/// CIFAR-10's binary version as published (`cifar-10-batches-bin`): `data_batch_1.bin` ...
/// `data_batch_5.bin` (train) and `test_batch.bin` (test), each a run of 3073-byte records:
/// a label byte, then 32x32 red, green and blue planes. Class names come from
/// `batches.meta.txt` when present. The records of a split stay in memory as read (150 MB for
/// the training split) and each image is reordered to height x width x channels when read.
public struct CIFAR10: Dataset, Sendable {
    public static let defaultClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let recordSize = 1 + 3 * 32 * 32

    public let classNames: [String]
    public let count: Int
    private let records: [UInt8]

    /// Reads a split from `directory` or from its `cifar-10-batches-bin` subdirectory.
    public init(directory: URL, split: DatasetSplit) throws {
        let directories = [directory, directory.appendingPathComponent("cifar-10-batches-bin")]
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let urls = try names.map { name throws(FileError) in try DataFile.find([name], in: directories, format: .cifar10) }

        var records = [UInt8]()
        for url in urls {
            let bytes = try DataFile.contents(of: url, format: .cifar10)
            guard bytes.count % Self.recordSize == 0 else {
                throw FileError(.cifar10, path: url.path, problem: "truncated record: \(bytes.count) bytes is not a multiple of the \(Self.recordSize)-byte record (a label and 3072 pixels); the last record has \(bytes.count % Self.recordSize) bytes")
            }
            for record in 0..<(bytes.count / Self.recordSize) where bytes[record * Self.recordSize] > 9 {
                throw FileError(.cifar10, path: url.path, problem: "record \(record) has label \(bytes[record * Self.recordSize]); CIFAR-10 labels are 0-9")
            }
            if records.isEmpty { records.reserveCapacity(bytes.count * urls.count) }
            records += bytes
        }

        var classNames = Self.defaultClassNames
        let metaURL = urls[0].deletingLastPathComponent().appendingPathComponent("batches.meta.txt")
        if FileManager.default.fileExists(atPath: metaURL.path) {
            let names = String(decoding: try DataFile.contents(of: metaURL, format: .cifar10), as: UTF8.self)
                .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard names.count == 10 else {
                throw FileError(.cifar10, path: metaURL.path, problem: "expected 10 class names, one per line, found \(names.count)")
            }
            classNames = names
        }
        self.classNames = classNames
        self.records = records
        count = records.count / Self.recordSize
    }

    public subscript(index: Int) -> (image: Image, label: Int) {
        let start = index * Self.recordSize
        let plane = 32 * 32
        // Records hold channel planes (CHW); images interleave channels per pixel (HWC).
        let pixels = [UInt8](unsafeUninitializedCapacity: 3 * plane) { buffer, initialized in
            for position in 0..<plane {
                for channel in 0..<3 { buffer[position * 3 + channel] = records[start + 1 + channel * plane + position] }
            }
            initialized = 3 * plane
        }
        return (Image(height: 32, width: 32, channels: 3, pixels: pixels), Int(records[start]))
    }
}
