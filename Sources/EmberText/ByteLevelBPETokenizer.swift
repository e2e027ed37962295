import EmberIO
import Foundation

/// GPT-2's tokenizer, as Hugging Face's `tokenizers` runs it: special tokens (`<|endoftext|>`)
/// recognised in the raw text, GPT-2's split pattern over the rest, each piece's UTF-8 bytes as
/// byte-level characters, then BPE by merge rank. Decoding gives back the exact text; a cut
/// through a character's bytes decodes to U+FFFD, as Hugging Face's does.
///
/// Read it from a `tokenizer.json` whose model is BPE (`init(tokenizerFile:)`), or from GPT-2's
/// `vocab.json` and `merges.txt`.
public struct ByteLevelBPETokenizer: Tokenizer {
    let model: BytePairEncoding
    /// A space put before each piece of text that does not start with one, so that the first
    /// word is tokenized like the others.
    let addPrefixSpace: Bool
    /// Whether GPT-2's pattern splits the text (otherwise each piece is one word).
    let splitsWords: Bool
    let addedVocabulary: AddedVocabulary
    let postProcessor: PostProcessor

    public let paddingID: Int
    public let vocabularySize: Int
    /// The longest input the model takes, in tokens: `model_max_length` of
    /// `tokenizer_config.json`, else the truncation length of `tokenizer.json`; nil if unknown.
    /// `encode` truncates only when given `maxLength`.
    public var modelMaxLength: Int?

    init(model: BytePairEncoding, addPrefixSpace: Bool, splitsWords: Bool, addedTokens: [AddedToken], postProcessor: PostProcessor,
         paddingID: Int, modelMaxLength: Int?) {
        self.model = model
        self.addPrefixSpace = addPrefixSpace
        self.splitsWords = splitsWords
        addedVocabulary = AddedVocabulary(addedTokens) { $0 }
        self.postProcessor = postProcessor
        self.paddingID = paddingID
        self.modelMaxLength = modelMaxLength
        vocabularySize = max(model.vocabulary.idBound, (addedTokens.map(\.id).max() ?? -1) + 1)
    }

    /// GPT-2's tokenizer from its `vocab.json` (token → id) and `merges.txt` (one merge "a b" per
    /// line, by rank, after a `#version` line), set up as transformers' `GPT2Tokenizer`:
    /// `endOfTextToken` is special; batches are padded with `paddingToken` if given, else with it.
    public init(vocabularyFile: URL, mergesFile: URL, addPrefixSpace: Bool = false, endOfTextToken: String = "<|endoftext|>",
                paddingToken: String? = nil, modelMaxLength: Int? = nil) throws {
        var vocabulary = Vocabulary()
        for (token, id) in try JSONField.read(vocabularyFile).members() { vocabulary.insert(token, id: try id.id()) }
        guard vocabulary.count > 0 else { throw FileError(.tokenizer, path: vocabularyFile.path, problem: "the vocabulary is empty") }
        let model = try BytePairEncoding(vocabulary: vocabulary, merges: Self.readMerges(mergesFile), source: mergesFile.path)
        func special(_ token: String) throws(FileError) -> AddedToken {
            guard let id = vocabulary.id(of: token) else { throw FileError(.tokenizer, path: vocabularyFile.path, problem: "the vocabulary has no \(token) token") }
            return AddedToken(content: token, id: id, special: true, normalized: false)
        }
        let endOfText = try special(endOfTextToken)
        let padding = try paddingToken.map { (token: String) throws(FileError) in try special(token) }
        self.init(model: model, addPrefixSpace: addPrefixSpace, splitsWords: true, addedTokens: [endOfText] + (padding.map { [$0] } ?? []),
                  postProcessor: .plain, paddingID: (padding ?? endOfText).id, modelMaxLength: modelMaxLength)
    }

    /// `merges.txt` as Hugging Face reads it: `#version` lines skipped, every other line two
    /// tokens separated by one space.
    static func readMerges(_ url: URL) throws(FileError) -> [(String, String)] {
        let text = try readTokenizerText(url)
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var merges = [(String, String)]()
        for (index, line) in lines.enumerated() {
            var bytes = Array(line)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if bytes.starts(with: Array("#version".utf8)) { continue }
            let parts = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw FileError(.tokenizer, path: url.path, problem: "line \(index + 1) should be two tokens separated by a space")
            }
            merges.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
        }
        return merges
    }

    public func tokenize(_ text: String) -> [String] {
        encode(text, pair: nil, addSpecialTokens: false, maxLength: nil).tokens
    }

    public func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding {
        postProcessor.encode(sequence(text), pair.map(sequence), addSpecialTokens: addSpecialTokens, maxLength: maxLength)
    }

    private func sequence(_ text: String) -> TokenSequence {
        var sequence = TokenSequence()
        for segment in addedVocabulary.split(Array(text.unicodeScalars), normalize: { $0 }) {
            switch segment {
            case .added(let id, let matched):
                sequence.append(id: id, token: matched)
            case .text(var scalars):
                if addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
                for piece in splitsWords ? ByteLevel.split(scalars) : [scalars.indices] {
                    var utf8 = [UInt8]()
                    for scalar in scalars[piece] { UTF8.encode(scalar) { utf8.append($0) } }
                    for id in model.encode(utf8) { sequence.append(id: id, token: model.vocabulary.token(of: id) ?? "") }
                }
            }
        }
        return sequence
    }

    /// The tokens' byte-level characters back to bytes (a token with other characters, such as
    /// an added "hello world", gives its own UTF-8), read as UTF-8 with U+FFFD for what is not.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes = [UInt8]()
        for id in ids {
            guard !(skipSpecialTokens && addedVocabulary.specialIDs.contains(id)), let token = token(of: id) else { continue }
            let start = bytes.count
            for scalar in token.unicodeScalars {
                guard let byte = ByteLevel.bytes[scalar] else {
                    bytes.removeLast(bytes.count - start)
                    bytes += token.utf8
                    break
                }
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(of token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.vocabulary.id(of: token)
    }

    public func token(of id: Int) -> String? {
        addedVocabulary.token(of: id) ?? model.vocabulary.token(of: id)
    }
}
