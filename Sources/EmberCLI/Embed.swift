import ArgumentParser
import Ember
import EmberIO
import EmberModels
import Foundation

/// `ember embed`: sentence embeddings from a sentence-transformers folder, and how similar
/// the sentences are to each other.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed sentences with a sentence-transformers model (such as all-MiniLM-L6-v2).",
        discussion: """
        DIR is a sentence-transformers folder: config.json, model.safetensors (or a sharded \
        index), tokenizer.json or vocab.txt, modules.json and 1_Pooling/config.json. Prints \
        each sentence's embedding (its first values) and the matrix of cosine similarities; \
        with --json exactly {"embeddings": [[...], ...]}.
        """)

    @Option(help: "The model folder.") var model: String
    @Argument(help: "Sentences to embed.") var sentences: [String] = []
    @Option(help: "A file of sentences, one per line, embedded after the arguments.") var file: String?
    @Option(parsing: .unconditional, help: "Sentences per batch.") var batchSize = 32
    @Flag(help: "Print only {\"embeddings\": [[...], ...]}.") var json = false
    @Option(help: ArgumentHelp(inferencePrecisionHelp)) var precision = "fp32"

    func run() throws {
        print(try output())
    }

    /// What the command prints.
    func output() throws -> String {
        guard batchSize > 0 else { throw CommandError("--batch-size must be positive, got \(batchSize)") }
        let mode = try inferencePrecision(precision)
        let sentences = try self.sentences + linesOf(file)
        guard !sentences.isEmpty else { throw CommandError("give at least one sentence (as arguments or with --file)") }
        let embedder: SentenceEmbedder
        do {
            embedder = try SentenceEmbedder(pretrained: URL(fileURLWithPath: model))
        } catch {
            throw CommandError("cannot load the model in \(model): \(error)")
        }
        let embeddings = mode.run { embedder.embed(sentences, batchSize: batchSize) }.cast(to: .float32)
        let rows = (0..<sentences.count).map { embeddings[$0].floats }
        if json {
            return try jsonText(["embeddings": rows])
        }
        var lines = ["\(sentences.count) sentence(s), \(embedder.dimension) dimensions"]
        for (i, (sentence, row)) in zip(sentences, rows).enumerated() {
            let head = row.prefix(4).map { String(format: "%+.4f", $0) }.joined(separator: " ")
            lines += ["[\(i)] \(sentence)", "    [\(head) ...]"]
        }
        guard sentences.count > 1 else { return lines.joined(separator: "\n") }
        let similarity = cosineSimilarity(embeddings, embeddings)
        func cell(_ text: String) -> String { String(repeating: " ", count: max(0, 7 - text.count)) + text }
        lines += ["", "cosine similarity", cell("") + (0..<sentences.count).map { cell("[\($0)]") }.joined()]
        for i in 0..<sentences.count {
            lines.append(cell("[\(i)]") + similarity[i].floats.map { cell(String(format: "%.3f", $0)) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

/// The non-empty lines of a text file (none when `path` is nil).
func linesOf(_ path: String?) throws -> [String] {
    guard let path else { return [] }
    let data = try FileError.contents(of: URL(fileURLWithPath: path), format: .text)
    guard let text = String(validating: data, as: UTF8.self) else { throw FileError(.text, path: path, problem: "not UTF-8 text") }
    return text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
}
