import ArgumentParser
import Foundation

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: a deep learning framework for Swift on Linux.",
        version: emberVersion,
        subcommands: [Train.self, Eval.self, Predict.self, Summary.self, RunONNX.self, Embed.self, Tokenize.self, Generate.self, ProfileCommand.self, Serve.self, Info.self, Bench.self, ExportCommand.self]
    )

    /// A user's mistake, of any kind (an option, a file, a model that does not fit), is one
    /// line on standard error and exit status 1; help and --version print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }
            FileHandle.standardError.write(Data("Error: \(message(for: error))\n".utf8))
            Foundation.exit(1)
        }
    }
}

let emberVersion = "0.1.0"

/// A user's mistake, reported as one line and a non-zero exit (no usage text).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The JSON a command prints (`--json`): sorted keys, and NaN and the infinities (a diverged
/// model's outputs) as strings, which JSON numbers cannot hold.
func jsonText(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// A `--seed` value: any whole number from 0 to 2^64 - 1.
func parseSeed(_ text: String) throws -> UInt64 {
    guard let seed = UInt64(text) else { throw CommandError("a seed is a whole number from 0 to \(UInt64.max)") }
    return seed
}
