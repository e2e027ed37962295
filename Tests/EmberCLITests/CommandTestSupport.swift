import ArgumentParser
import Foundation

/// A fresh, empty directory for one test's files.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The one-line error a command stops with, or nil when it succeeds.
func message<Command: ParsableCommand>(_ type: Command.Type, _ arguments: [String]) -> String? {
    do {
        var command = try type.parse(arguments)
        try command.run()
        return nil
    } catch {
        return type.message(for: error)
    }
}
