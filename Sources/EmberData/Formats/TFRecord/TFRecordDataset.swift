import Ember
import EmberIO
import Foundation

/// The Examples of TFRecord files parsed by a spec (`tf.data.TFRecordDataset` followed by
/// `tf.io.parse_single_example`), as a map-style dataset: loaders can shuffle it, read it
/// from several workers and take subsets.
///
/// Several files (shards) are read interleaved, record 0 of each file, then record 1 of each,
/// and so on (tf.data's `interleave` with one block per file), so that consecutive examples
/// come from different shards. Everything that can be checked is checked when the dataset is
/// made, before any training: both CRCs of every record, every record's protobuf, every
/// feature against the spec, and (unless `checkImages` is false) that every image decodes.
/// Errors name the file, the record and its byte offset.
public struct TFRecordDataset: Dataset {
    public let files: [TFRecordFile]
    public let spec: [String: FeatureSpec]
    /// The i-th example is record `order[i].record` of file `order[i].file`.
    private let order: [(file: Int, record: Int)]

    /// `checkImages: false` skips decoding every image once on opening (a large dataset's
    /// cost); an image that then fails to decode stops the program with its file and record.
    public init(files: [URL], spec: [String: FeatureSpec], compression: TFRecordFile.Compression = .automatic,
                checkImages: Bool = true) throws(FileError) {
        for (name, feature) in spec { feature.validate(name: name) }
        var opened = [TFRecordFile]()
        for url in files { opened.append(try TFRecordFile(contentsOf: url, compression: compression)) }
        self.files = opened
        self.spec = spec
        order = Self.interleaved(opened.map(\.count))
        for index in order.indices {
            let example = try self.example(at: index)
            for (name, feature) in spec {
                if let problem = feature.problem(with: example[name]) {
                    throw failure(at: index, "feature \"\(name)\" \(problem)")
                }
                if checkImages, case .image = feature { _ = try image(example, name, at: index) }
            }
        }
    }

    /// The files in `directory` whose names start with `prefix`, sorted: TensorFlow's shard
    /// names (`train-00000-of-00008`) sort in shard order.
    public static func shards(in directory: URL, prefix: String) throws(FileError) -> [URL] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw FileError(.tfRecord, path: directory.path, problem: "cannot list the directory: \(FileError.systemReason(error))")
        }
        return names.filter { $0.hasPrefix(prefix) && !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    public var count: Int { order.count }

    public subscript(index: Int) -> ParsedExample {
        precondition(index >= 0 && index < count, "TFRecordDataset: index \(index) is out of range 0..<\(count)")
        // Checked on opening: only an image left unchecked can fail here.
        let example = try! self.example(at: index)
        var parsed = ParsedExample()
        for (name, feature) in spec {
            switch feature {
            case .fixed, .variable:
                parsed.tensors[name] = feature.tensor(example[name])
            case .image:
                do {
                    parsed.images[name] = try image(example, name, at: index)
                } catch {
                    preconditionFailure(error.description)
                }
            case .bytes:
                if case .bytes(let values) = example[name] { parsed.bytes[name] = values } else { parsed.bytes[name] = [] }
            }
        }
        return parsed
    }

    /// The unparsed Example of the `index`-th record.
    public func example(at index: Int) throws(FileError) -> Example {
        let (file, record) = order[index]
        do {
            return try Example(serialized: files[file][record][...])
        } catch {
            throw failure(at: index, "not a tf.train.Example: \(error.problem) (byte \(error.offset) of its message)")
        }
    }

    /// Where example `index` is stored, as errors name it.
    public func location(of index: Int) -> (file: URL, record: Int, offset: Int) {
        let (file, record) = order[index]
        return (files[file].url, record, files[file].offset(ofRecord: record))
    }

    /// An error about example `index`, naming its file, record and offset.
    func failure(at index: Int, _ problem: String) -> FileError {
        let (url, record, offset) = location(of: index)
        let place = files[order[index].file].compression == .gzip ? " of the decompressed data" : ""
        return FileError(.tfRecord, path: url.path, member: "record \(record) at byte \(offset)\(place)", problem: problem)
    }

    private func image(_ example: Example, _ name: String, at index: Int) throws(FileError) -> Image {
        guard case .bytes(let values) = example[name] else { preconditionFailure("TFRecordDataset: \(name) was checked to be bytes") }
        do {
            // The decoder's error is re-said with the file, record and offset below.
            return try Image(encoded: values[0], source: name)
        } catch {
            throw failure(at: index, "feature \"\(name)\" is not an image that can be read: \(error.problem)")
        }
    }

    /// Round-robin over files of `counts` records: (file, record) pairs.
    static func interleaved(_ counts: [Int]) -> [(file: Int, record: Int)] {
        var order = [(file: Int, record: Int)]()
        order.reserveCapacity(counts.reduce(0, +))
        for record in 0..<(counts.max() ?? 0) {
            for (file, count) in counts.enumerated() where record < count { order.append((file, record)) }
        }
        return order
    }
}
