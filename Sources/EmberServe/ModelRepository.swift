import Foundation
import Logging

/// One loaded version of a model, with its batcher. Held by requests while they run, so a
/// version replaced by a newer one finishes what it started.
final class LoadedModel: Sendable {
    let name: String
    let version: Int
    let servable: any Servable
    let batcher: DynamicBatcher

    init(name: String, version: Int, servable: any Servable, batcher: DynamicBatcher) {
        self.name = name
        self.version = version
        self.servable = servable
        self.batcher = batcher
    }
}

/// A model repository as TF Serving and Triton lay it out: `ROOT/NAME/VERSION/`, VERSION a
/// whole number, each version an `ember train` run folder, a sentence-transformers folder or
/// a folder holding `model.onnx`.
/// Polled: the latest version of each model is served (or the one pinned), a new version
/// replaces the old without a restart, a removed model is unloaded. Names and versions come
/// only from listing ROOT; a request's name is looked up, never made into a path, and a
/// version whose folder resolves outside ROOT (a symbolic link) is refused.
actor ModelRepository {
    /// TF Serving's version states.
    enum State: String, Sendable {
        case loading = "LOADING", available = "AVAILABLE", end = "END"
    }

    struct VersionStatus: Sendable {
        let version: Int
        var state: State
        var error: String?
    }

    private struct Entry {
        var served: LoadedModel?
        var statuses: [Int: VersionStatus] = [:]
        /// A failed version's folder stamp: it is tried again once the folder changes.
        var failedStamps: [Int: [Date]] = [:]
    }

    let root: URL
    private let pins: [String: Int]
    private let batching: BatchingPolicy
    private let logger: Logger
    private let metrics: ServeMetrics
    private var entries: [String: Entry] = [:]
    private(set) var initialScanDone = false

    init(root: URL, pins: [String: Int], batching: BatchingPolicy, logger: Logger, metrics: ServeMetrics) {
        self.root = root.standardizedFileURL.resolvingSymlinksInPath()
        self.pins = pins
        self.batching = batching
        self.logger = logger
        self.metrics = metrics
    }

    /// Names allowed for models: no separators, no leading dot.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != ".", name.count <= 255 else { return false }
        return name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    }

    var modelNames: [String] { entries.keys.sorted() }

    /// Ready: the first scan is done and every model found serves a version.
    var isReady: Bool { initialScanDone && entries.values.allSatisfy { $0.served != nil } }

    /// The version to answer `name` with: the one asked for when it is loaded, else the served one.
    func model(_ name: String, version: Int?) throws -> LoadedModel {
        guard let entry = entries[name] else { throw RequestError(.notFound, "no model named '\(name)' (models: \(modelNames.joined(separator: ", ")))") }
        guard let served = entry.served else {
            let error = entry.statuses.values.sorted { $0.version > $1.version }.first?.error
            throw RequestError(.serviceUnavailable, "model '\(name)' has no version loaded" + (error.map { ": \($0)" } ?? ""))
        }
        if let version, version != served.version {
            throw RequestError(.notFound, "model '\(name)' serves version \(served.version), not \(version)")
        }
        return served
    }

    func statuses(_ name: String, version: Int?) throws -> [VersionStatus] {
        guard let entry = entries[name] else { throw RequestError(.notFound, "no model named '\(name)'") }
        let all = entry.statuses.values.sorted { $0.version > $1.version }
        guard let version else { return all }
        guard let status = entry.statuses[version] else { throw RequestError(.notFound, "model '\(name)' has no version \(version)") }
        return [status]
    }

    /// Polls every `interval` until cancelled.
    func run(every interval: Duration) async {
        while !Task.isCancelled {
            await poll()
            try? await Task.sleep(for: interval)
        }
    }

    /// Lists the repository and loads, replaces or unloads versions to match it.
    func poll() async {
        let found = scan()
        for name in entries.keys where found[name] == nil {
            logger.info("model removed from the repository: unloaded", metadata: ["model": "\(name)"])
            entries[name] = nil
        }
        for (name, versions) in found.sorted(by: { $0.key < $1.key }) {
            var entry = entries[name] ?? Entry()
            for version in entry.statuses.keys where versions[version] == nil { entry.statuses[version] = nil }
            entries[name] = entry
            guard let wanted = pins[name].map({ versions[$0] != nil ? $0 : nil }) ?? versions.keys.max(), let folder = versions[wanted] else {
                if let pin = pins[name], entry.statuses[pin] == nil {
                    logger.warning("pinned version not in the repository", metadata: ["model": "\(name)", "version": "\(pin)"])
                }
                continue
            }
            if entry.served?.version == wanted { continue }
            let stamp = Self.stamp(folder)
            if let failed = entry.failedStamps[wanted], failed == stamp { continue }
            await load(name, version: wanted, folder: folder, stamp: stamp)
        }
        initialScanDone = true
        metrics.modelsLoaded(entries.values.filter { $0.served != nil }.count)
    }

    private func load(_ name: String, version: Int, folder: URL, stamp: [Date]) async {
        entries[name]?.statuses[version] = VersionStatus(version: version, state: .loading)
        let started = ContinuousClock.now
        do {
            let servable: any Servable = try await ComputeQueue.run {
                if ONNXServable.recognizes(folder) { return try ONNXServable(folder: folder) as any Servable }
                if EmbedderServable.recognizes(folder) { return try EmbedderServable(folder: folder) as any Servable }
                return try RunServable(folder: folder)
            }
            let metrics = self.metrics
            let batcher = DynamicBatcher(model: servable, policy: batching) { metrics.batch(model: name, $0) }
            let previous = entries[name]?.served?.version
            entries[name]?.served = LoadedModel(name: name, version: version, servable: servable, batcher: batcher)
            entries[name]?.statuses[version] = VersionStatus(version: version, state: .available)
            entries[name]?.failedStamps[version] = nil
            if let previous { entries[name]?.statuses[previous]?.state = .end }
            logger.info("model loaded", metadata: ["model": "\(name)", "version": "\(version)",
                                                   "seconds": "\((ContinuousClock.now - started).seconds)"])
        } catch {
            entries[name]?.statuses[version] = VersionStatus(version: version, state: .end, error: "\(error)")
            entries[name]?.failedStamps[version] = stamp
            logger.error("model failed to load", metadata: ["model": "\(name)", "version": "\(version)", "error": "\(error)"])
        }
    }

    /// NAME -> VERSION -> folder, for the valid entries of the repository.
    private func scan() -> [String: [Int: URL]] {
        let files = FileManager.default
        var found: [String: [Int: URL]] = [:]
        for name in (try? files.contentsOfDirectory(atPath: root.path)) ?? [] where Self.isValidName(name) {
            let modelFolder = root.appendingPathComponent(name, isDirectory: true)
            var versions: [Int: URL] = [:]
            for entry in (try? files.contentsOfDirectory(atPath: modelFolder.path)) ?? [] {
                guard let version = Int(entry), version >= 0, entry.allSatisfy(\.isASCII) else { continue }
                let folder = modelFolder.appendingPathComponent(entry, isDirectory: true).resolvingSymlinksInPath()
                var isDirectory: ObjCBool = false
                guard files.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                guard folder.path.hasPrefix(root.path + "/") else {
                    logger.warning("version folder outside the repository: skipped", metadata: ["model": "\(name)", "version": "\(entry)"])
                    continue
                }
                versions[version] = folder
            }
            if !versions.isEmpty { found[name] = versions }
        }
        return found
    }

    /// When a folder and its files last changed.
    private static func stamp(_ folder: URL) -> [Date] {
        let files = FileManager.default
        let names = ((try? files.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        return ([folder.path] + names.map { folder.appendingPathComponent($0).path }).map {
            ((try? files.attributesOfItem(atPath: $0))?[.modificationDate] as? Date) ?? .distantPast
        }
    }
}

extension Duration {
    /// The duration in seconds, for logs and metrics.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
