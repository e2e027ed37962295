import EmberIO
import Foundation

/// The tokenizer of a Hugging Face model folder: its `tokenizer.json` (WordPiece or BPE model)
/// if there is one, else BERT's `vocab.txt`, else GPT-2's `vocab.json` and `merges.txt`.
/// `tokenizer_config.json`, when present, gives the model's maximum length, the special tokens
/// and, for vocab.txt, BERT's options (`do_lower_case`, `strip_accents`,
/// `tokenize_chinese_chars`).
public func loadTokenizer(folder: URL) throws -> any Tokenizer {
    func file(_ name: String) -> URL? {
        let url = folder.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
    let config = try file("tokenizer_config.json").map(TokenizerConfig.init) ?? TokenizerConfig()
    if let url = file("tokenizer.json") {
        let json = try TokenizerJSON(JSONField.read(url))
        switch json.modelType {
        case "WordPiece":
            return try WordPieceTokenizer(json: json, modelMaxLength: config.modelMaxLength)
        case "BPE":
            return try ByteLevelBPETokenizer(json: json, paddingToken: config.paddingToken,
                                             endOfTextToken: config.endOfTextToken ?? "<|endoftext|>", modelMaxLength: config.modelMaxLength)
        default:
            throw json.model.error("has type \(json.modelType), which is not supported (supported: WordPiece, BPE)")
        }
    }
    if let vocabulary = file("vocab.txt") {
        let defaults = WordPieceTokenizer.SpecialTokens()
        let specialTokens = WordPieceTokenizer.SpecialTokens(
            unknown: config.unknownToken ?? defaults.unknown, separator: config.separatorToken ?? defaults.separator,
            padding: config.paddingToken ?? defaults.padding, classifier: config.classifierToken ?? defaults.classifier,
            mask: config.maskToken ?? defaults.mask)
        return try WordPieceTokenizer(vocabularyFile: vocabulary, lowercase: config.lowercase ?? true, stripAccents: config.stripAccents,
                                      tokenizeChineseChars: config.tokenizeChineseChars ?? true, specialTokens: specialTokens,
                                      modelMaxLength: config.modelMaxLength)
    }
    if let vocabulary = file("vocab.json"), let merges = file("merges.txt") {
        return try ByteLevelBPETokenizer(vocabularyFile: vocabulary, mergesFile: merges, addPrefixSpace: config.addPrefixSpace ?? false,
                                         endOfTextToken: config.endOfTextToken ?? "<|endoftext|>", paddingToken: config.paddingToken,
                                         modelMaxLength: config.modelMaxLength)
    }
    throw FileError(.tokenizer, path: folder.path, problem: "no tokenizer.json, vocab.txt, or vocab.json with merges.txt")
}

/// The settings of transformers' `tokenizer_config.json` that tokenizing depends on.
struct TokenizerConfig {
    var modelMaxLength: Int?
    var lowercase: Bool?
    var stripAccents: Bool?
    var tokenizeChineseChars: Bool?
    var addPrefixSpace: Bool?
    var unknownToken: String?
    var separatorToken: String?
    var paddingToken: String?
    var classifierToken: String?
    var maskToken: String?
    var endOfTextToken: String?

    /// transformers writes 1e30 for "no limit".
    static let unlimitedLength = 1e15

    init() {}

    init(_ url: URL) throws(FileError) {
        let json = try JSONField.read(url)
        if let length = try json.member("model_max_length") {
            let value = try length.number()
            if value < Self.unlimitedLength {
                let tokens = try length.int()
                guard tokens > 0 else { throw length.error("should be a positive length, found \(tokens)") }
                modelMaxLength = tokens
            }
        }
        lowercase = try json.member("do_lower_case")?.bool()
        stripAccents = try json.member("strip_accents")?.bool()
        tokenizeChineseChars = try json.member("tokenize_chinese_chars")?.bool()
        addPrefixSpace = try json.member("add_prefix_space")?.bool()
        unknownToken = try Self.token(json.member("unk_token"))
        separatorToken = try Self.token(json.member("sep_token"))
        paddingToken = try Self.token(json.member("pad_token"))
        classifierToken = try Self.token(json.member("cls_token"))
        maskToken = try Self.token(json.member("mask_token"))
        endOfTextToken = try Self.token(json.member("eos_token"))
    }

    /// A special token: its text, or an AddedToken object with the text as `content`.
    private static func token(_ field: JSONField?) throws(FileError) -> String? {
        guard let field else { return nil }
        if case .string(let text) = field.value { return text }
        return try field.required("content").string()
    }
}
