import ArgumentParser
import EmberText
import Foundation

/// `ember tokenize`: the tokens and ids a Hugging Face tokenizer gives texts.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize texts with a Hugging Face tokenizer (WordPiece or byte-level BPE).",
        discussion: """
        DIR holds tokenizer.json, or vocab.txt (BERT), or vocab.json and merges.txt (GPT-2). \
        The ids include the special tokens, as Hugging Face's tokenizer returns them; with \
        --json exactly {"input_ids": [[...], ...]}.
        """)

    @Option(help: "The folder holding the tokenizer files.") var model: String
    @Argument(help: "Texts to tokenize.") var texts: [String] = []
    @Option(help: "A file of texts, one per line, tokenized after the arguments.") var file: String?
    @Option(parsing: .unconditional, help: "Truncate to this many ids, special tokens included.") var maxLength: Int?
    @Flag(help: "Leave out the special tokens ([CLS], [SEP], ...).") var noSpecialTokens = false
    @Flag(help: "Print only {\"input_ids\": [[...], ...]}.") var json = false

    func run() throws {
        print(try output())
    }

    /// What the command prints.
    func output() throws -> String {
        let texts = try self.texts + linesOf(file)
        guard !texts.isEmpty else { throw CommandError("give at least one text (as arguments or with --file)") }
        if let maxLength, maxLength <= 0 { throw CommandError("--max-length must be positive, got \(maxLength)") }
        let tokenizer = try loadTokenizer(folder: URL(fileURLWithPath: model))
        let encodings = texts.map { tokenizer.encode($0, pair: nil, addSpecialTokens: !noSpecialTokens, maxLength: maxLength) }
        if json {
            return try jsonText(["input_ids": encodings.map(\.ids)])
        }
        return zip(texts, encodings).map { text, encoding in
            "\(text)\n  tokens: \(encoding.tokens.joined(separator: " "))\n  ids:    \(encoding.ids.map(String.init).joined(separator: " "))"
        }.joined(separator: "\n")
    }
}
