import EmberIO
import Foundation

/// BERT's tokenizer, as Hugging Face's `tokenizers` runs it: special tokens recognised in the raw
/// text, `BertNormalizer` (clean-up, Chinese characters split off, accents stripped, lower case),
/// `BertPreTokenizer` (words split at whitespace and punctuation), WordPiece, then the template
/// `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` with token types 0 and 1.
///
/// Read it from a `vocab.txt` with BERT's options, or from a `tokenizer.json` whose model is
/// WordPiece (`init(tokenizerFile:)`); `loadTokenizer(folder:)` chooses for a model folder.
public struct WordPieceTokenizer: Tokenizer {
    /// The special tokens of a BERT vocabulary.
    public struct SpecialTokens: Sendable, Equatable {
        public var unknown: String
        public var separator: String
        public var padding: String
        public var classifier: String
        public var mask: String

        public init(unknown: String = "[UNK]", separator: String = "[SEP]", padding: String = "[PAD]",
                    classifier: String = "[CLS]", mask: String = "[MASK]") {
            self.unknown = unknown
            self.separator = separator
            self.padding = padding
            self.classifier = classifier
            self.mask = mask
        }
    }

    let normalizer: BertNormalizer?
    let model: WordPiece
    let addedVocabulary: AddedVocabulary
    let postProcessor: PostProcessor
    /// Nil: tokens joined with spaces.
    let decoder: WordPieceDecoder?

    public let paddingID: Int
    public let vocabularySize: Int
    /// The longest input the model takes, in tokens: `model_max_length` of
    /// `tokenizer_config.json`, else the truncation length of `tokenizer.json`; nil if unknown.
    /// `encode` truncates only when given `maxLength`.
    public var modelMaxLength: Int?

    init(normalizer: BertNormalizer?, model: WordPiece, addedTokens: [AddedToken], postProcessor: PostProcessor,
         decoder: WordPieceDecoder?, paddingID: Int, modelMaxLength: Int?) {
        self.normalizer = normalizer
        self.model = model
        let addedVocabulary = AddedVocabulary(addedTokens) { normalizer?.normalize($0) ?? $0 }
        self.addedVocabulary = addedVocabulary
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.paddingID = paddingID
        self.modelMaxLength = modelMaxLength
        vocabularySize = max(model.vocabulary.idBound, (addedTokens.map(\.id).max() ?? -1) + 1)
    }

    /// BERT's tokenizer from a `vocab.txt` (one token per line, the id is the line number), set
    /// up as transformers' `BertTokenizer`. `stripAccents` nil follows `lowercase`.
    public init(vocabularyFile: URL, lowercase: Bool = true, stripAccents: Bool? = nil, tokenizeChineseChars: Bool = true,
                specialTokens: SpecialTokens = SpecialTokens(), modelMaxLength: Int? = nil) throws {
        let vocabulary = try Self.readVocabulary(vocabularyFile)
        func id(_ token: String) throws(FileError) -> Int {
            guard let id = vocabulary.id(of: token) else { throw FileError(.tokenizer, path: vocabularyFile.path, problem: "the vocabulary has no \(token) token") }
            return id
        }
        let model = try WordPiece(vocabulary: vocabulary, unknownToken: specialTokens.unknown, source: vocabularyFile.path)
        let classifier = try id(specialTokens.classifier)
        let separator = try id(specialTokens.separator)
        let padding = try id(specialTokens.padding)
        let added = [specialTokens.padding, specialTokens.unknown, specialTokens.classifier, specialTokens.separator, specialTokens.mask]
            .compactMap { token in vocabulary.id(of: token).map { AddedToken(content: token, id: $0, special: true, normalized: false) } }
        self.init(normalizer: BertNormalizer(handleChineseCharacters: tokenizeChineseChars, stripAccents: stripAccents ?? lowercase, lowercase: lowercase),
                  model: model, addedTokens: added,
                  postProcessor: .bert(classifier: (specialTokens.classifier, classifier), separator: (specialTokens.separator, separator)),
                  decoder: WordPieceDecoder(), paddingID: padding, modelMaxLength: modelMaxLength)
    }

    /// `vocab.txt` as Hugging Face reads it: line n (from 0) is token n, trailing whitespace
    /// trimmed; a token given twice keeps its last line.
    static func readVocabulary(_ url: URL) throws(FileError) -> Vocabulary {
        let text = try readTokenizerText(url)
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { throw FileError(.tokenizer, path: url.path, problem: "the vocabulary is empty") }
        var vocabulary = Vocabulary()
        for (index, line) in lines.enumerated() {
            var scalars = String(decoding: line, as: UTF8.self).unicodeScalars
            while let last = scalars.last, CharacterClasses.isWhitespace(last) { scalars.removeLast() }
            vocabulary.insert(String(scalars), id: index)
        }
        return vocabulary
    }

    public func tokenize(_ text: String) -> [String] {
        encode(text, pair: nil, addSpecialTokens: false, maxLength: nil).tokens
    }

    public func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding {
        postProcessor.encode(sequence(text), pair.map(sequence), addSpecialTokens: addSpecialTokens, maxLength: maxLength)
    }

    private func sequence(_ text: String) -> TokenSequence {
        var sequence = TokenSequence()
        for segment in addedVocabulary.split(Array(text.unicodeScalars), normalize: { normalizer?.normalize($0) ?? $0 }) {
            switch segment {
            case .added(let id, let matched):
                sequence.append(id: id, token: matched)
            case .text(let normalized):
                for word in BertPreTokenizer.words(normalized) { model.tokenize(word, into: &sequence) }
            }
        }
        return sequence
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        let tokens = ids.compactMap { id in
            skipSpecialTokens && addedVocabulary.specialIDs.contains(id) ? nil : token(of: id)
        }
        return decoder?.decode(tokens) ?? tokens.joined(separator: " ")
    }

    public func id(of token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.vocabulary.id(of: token)
    }

    public func token(of id: Int) -> String? {
        addedVocabulary.token(of: id) ?? model.vocabulary.token(of: id)
    }
}
