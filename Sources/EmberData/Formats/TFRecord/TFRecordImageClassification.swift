import Ember
import EmberIO
import Foundation

/// Labeled images in TFRecord files, in TensorFlow's usual layout (the Inception/ImageNet
/// scripts', TensorFlow Datasets' image classification): `image/encoded` holds the image file,
/// `image/class/label` its class as an int64, and `image/class/text`, when present, the
/// class's name.
public struct TFRecordImageClassification: Dataset {
    public static let imageKey = "image/encoded", labelKey = "image/class/label", textKey = "image/class/text"
    /// Class ids at or past this are refused: a model gets one output per id up to the largest.
    public static let maximumClasses = 1 << 20

    public let records: TFRecordDataset
    /// The name of each class id seen: its `image/class/text` where the records give one, else the id.
    public let classNames: [String]

    public init(files: [URL], compression: TFRecordFile.Compression = .automatic, checkImages: Bool = true) throws(FileError) {
        records = try TFRecordDataset(files: files, spec: [Self.imageKey: .image, Self.labelKey: .fixed(shape: [], dtype: .int64)],
                                      compression: compression, checkImages: checkImages)
        var names = [Int: String]()
        var largest = -1
        for index in 0..<records.count {
            let example = try records.example(at: index)
            guard case .int64s(let labels) = example[Self.labelKey], let label = labels.first else { continue }
            guard label >= 0 && label < Int64(Self.maximumClasses) else {
                throw records.failure(at: index, "feature \"\(Self.labelKey)\" is \(label); a class id is 0 to \(Self.maximumClasses - 1)")
            }
            largest = max(largest, Int(label))
            if case .bytes(let texts) = example[Self.textKey], let text = texts.first.flatMap({ String(validating: $0, as: UTF8.self) }) {
                names[Int(label)] = text
            }
        }
        classNames = (0..<(largest + 1)).map { names[$0] ?? String($0) }
    }

    public var count: Int { records.count }

    public subscript(index: Int) -> (image: Image, label: Int) {
        let parsed = records[index]
        return (parsed.images[Self.imageKey]!, Int(parsed.tensors[Self.labelKey]!.scalars(as: Int64.self)[0]))
    }

    /// The Example TensorFlow's scripts write for one labeled image, PNG-encoded.
    public static func example(image: Image, label: Int, className: String? = nil) -> Example {
        var example = Example([imageKey: .bytes([[UInt8](image.pngData())]), labelKey: .int64s([Int64(label)]),
                               "image/height": .int64s([Int64(image.height)]), "image/width": .int64s([Int64(image.width)]),
                               "image/channels": .int64s([Int64(image.channels)]), "image/format": .bytes([Array("PNG".utf8)])])
        if let className { example[textKey] = .bytes([Array(className.utf8)]) }
        return example
    }

    /// Writes labeled images as `shards` TFRecord files `PREFIX-00000-of-0000N` in
    /// `directory` (TensorFlow's shard names), example i in shard i mod `shards`; returns the files.
    @discardableResult
    public static func write(_ examples: [(image: Image, label: Int)], to directory: URL, prefix: String, shards: Int,
                             classNames: [String]? = nil, compression: TFRecordFile.Compression = .none) throws -> [URL] {
        precondition(shards > 0, "TFRecordImageClassification.write: shards must be positive, got \(shards)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try (0..<shards).map { shard in
            let url = directory.appendingPathComponent("\(prefix)-\(fiveDigits(shard))-of-\(fiveDigits(shards))")
            let records = stride(from: shard, to: examples.count, by: shards).lazy.map { index in
                let (image, label) = examples[index]
                return example(image: image, label: label, className: classNames?[label]).serialized
            }
            try TFRecordFile.write(records, to: url, compression: compression)
            return url
        }
    }

    private static func fiveDigits(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }
}
