import Foundation

extension Pipeline {
    /// The first complete epoch's elements kept in memory; later epochs replay them instead of
    /// running the upstream (so random upstream operations are frozen, as in tf.data).
    public func cache() -> Pipeline {
        let store = MemoryCache<Element>()
        return Pipeline(count: count) { epoch in
            if let elements = store.elements { return AnyIterator(elements.makeIterator()) }
            let upstream = iterator(epoch: epoch)
            var recorded: [Element] = []
            return AnyIterator {
                guard let element = upstream.next() else {
                    store.keep(recorded)
                    return nil
                }
                recorded.append(element)
                return element
            }
        }
    }

    /// The first complete epoch's elements written to `file`; later epochs, and later runs of
    /// the program, read the file instead of running the upstream. The file appears only once
    /// an epoch has completed (an interrupted epoch leaves none); delete it when the upstream
    /// changes.
    public func cache(file: URL) -> Pipeline where Element: CacheSerializable {
        cache(file: file, write: { $0.serialize(into: &$1) }, read: { Element(from: &$0) })
    }

    public func cache<A: CacheSerializable, B: CacheSerializable>(file: URL) -> Pipeline where Element == (A, B) {
        cache(file: file, write: { $0.0.serialize(into: &$1); $0.1.serialize(into: &$1) },
              read: { (A(from: &$0), B(from: &$0)) })
    }

    public func cache<A: CacheSerializable>(file: URL) -> Pipeline where Element == (image: A, label: Int) {
        cache(file: file, write: { $0.image.serialize(into: &$1); $0.label.serialize(into: &$1) },
              read: { (A(from: &$0), Int(from: &$0)) })
    }

    private func cache(file: URL, write: @escaping (Element, inout CacheWriter) -> Void,
                       read: @escaping (inout CacheReader) -> Element) -> Pipeline {
        Pipeline(count: count) { epoch in
            if let data = try? Data(contentsOf: file, options: .alwaysMapped) {
                var reader = CacheReader(data, source: "the cache file \(file.path)")
                return AnyIterator { reader.isAtEnd ? nil : read(&reader) }
            }
            let upstream = iterator(epoch: epoch)
            let writer = CacheFileWriter(file)
            return AnyIterator {
                guard let element = upstream.next() else {
                    writer.finish()
                    return nil
                }
                var bytes = CacheWriter()
                write(element, &bytes)
                writer.append(bytes.bytes)
                return element
            }
        }
    }
}

/// A cache filled by the first epoch to complete.
final class MemoryCache<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Element]?

    var elements: [Element]? { lock.withLock { stored } }

    func keep(_ elements: [Element]) {
        lock.withLock { if stored == nil { stored = elements } }
    }
}

/// Writes a cache file under a temporary name and renames it into place when the epoch
/// completes, so readers never see a partial file; an abandoned one is deleted.
final class CacheFileWriter {
    private let target: URL
    private let temporary: URL
    private var handle: FileHandle?

    init(_ target: URL) {
        self.target = target
        temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary.path) else {
            preconditionFailure("Pipeline.cache(file:): cannot create \(temporary.path)")
        }
        self.handle = handle
    }

    func append(_ bytes: [UInt8]) {
        do {
            try handle?.write(contentsOf: bytes)
        } catch {
            preconditionFailure("Pipeline.cache(file:): cannot write \(temporary.path): \(error)")
        }
    }

    func finish() {
        guard let handle else { return }
        try? handle.close()
        self.handle = nil
        // Should two epochs complete concurrently, the later rename wins; each file is a whole epoch.
        if rename(temporary.path, target.path) != 0 {
            preconditionFailure("Pipeline.cache(file:): cannot move \(temporary.path) to \(target.path): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        if let handle {
            try? handle.close()
            unlink(temporary.path)
        }
    }
}
