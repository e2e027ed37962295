import ArgumentParser

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: a deep learning framework for Swift on Linux.",
        version: emberVersion,
        subcommands: [Train.self, Eval.self, Predict.self, Summary.self, Embed.self, Tokenize.self, Generate.self, Info.self, Bench.self]
    )
}

let emberVersion = "0.1.0"

/// A user's mistake, reported as one line and a non-zero exit (no usage text).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
