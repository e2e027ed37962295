import Foundation

/// A TFRecord file read whole: its records' bytes, every CRC checked on opening
/// (tf.data's `TFRecordDataset` with `compression_type` "" or "GZIP").
///
/// An uncompressed file is memory-mapped, so only the records read are paged in; a gzip file
/// is decompressed into memory.
public struct TFRecordFile: Sendable {
    public enum Compression: String, Sendable, CaseIterable {
        case none, gzip
        /// gzip when the file starts with gzip's magic number and not with a valid record
        /// header (the header's CRC tells the two apart).
        case automatic
    }

    public let url: URL
    /// The compression the file was read with (`.automatic` resolved).
    public let compression: Compression
    private let contents: Data
    private let ranges: [Range<Int>]

    public init(contentsOf url: URL, compression: Compression = .automatic) throws(FileError) {
        self.url = url
        let raw = try FileError.contents(of: url, format: .tfRecord, options: .alwaysMapped)
        let isGzip = raw.withUnsafeBytes { bytes in
            switch compression {
            case .none: return false
            case .gzip: return true
            case .automatic: return EmberIO.Compression.isGzip(raw) && !TFRecord.startsWithRecordHeader(bytes)
            }
        }
        self.compression = isGzip ? .gzip : .none
        if isGzip {
            let inflated: [UInt8]
            do {
                inflated = try EmberIO.Compression.gunzip(raw, source: url.path)
            } catch {
                throw FileError(.tfRecord, path: url.path, problem: "GZIP compression: \(error.problem)")
            }
            contents = Data(inflated)
        } else {
            contents = raw
        }
        let place = isGzip ? " of the decompressed data" : ""
        let scanned = contents.withUnsafeBytes { bytes in
            Result { () throws(FileError) in try TFRecord.records(in: bytes, source: url.path, offsetsIn: place) }
        }
        ranges = try scanned.get()
    }

    public var count: Int { ranges.count }

    /// The data of record `index`.
    public subscript(index: Int) -> [UInt8] {
        precondition(index >= 0 && index < ranges.count, "TFRecordFile: record \(index) is out of range 0..<\(ranges.count)")
        return [UInt8](contents[contents.startIndex + ranges[index].lowerBound..<contents.startIndex + ranges[index].upperBound])
    }

    /// Where record `index` starts in the file (in its decompressed bytes if gzip): for errors.
    public func offset(ofRecord index: Int) -> Int { ranges[index].lowerBound - TFRecord.headerSize }

    /// All the records' data, in order.
    public var records: [[UInt8]] { (0..<count).map { self[$0] } }

    /// Writes `records` as a TFRecord file at `url`, replacing it atomically (a failure leaves
    /// no partial file). gzip output is readable by `tf.data.TFRecordDataset(compression_type="GZIP")`.
    public static func write<Records: Sequence>(_ records: Records, to url: URL, compression: Compression = .none) throws
    where Records.Element == [UInt8] {
        precondition(compression != .automatic, "TFRecordFile.write: choose .none or .gzip")
        if compression == .gzip {
            var framed = [UInt8]()
            for record in records { framed += TFRecord.frame(record) }
            let compressed = framed.withUnsafeBytes { EmberIO.Compression.gzip($0) }
            try AtomicFile.write(Data(compressed), to: url, format: .tfRecord)
        } else {
            try AtomicFile.replace(url, format: .tfRecord) { append in
                for record in records { try TFRecord.frame(record).withUnsafeBytes { try append($0) } }
            }
        }
    }
}
