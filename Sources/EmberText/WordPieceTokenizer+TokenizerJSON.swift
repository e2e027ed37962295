import EmberIO
import Foundation

extension WordPieceTokenizer {
    /// The tokenizer a Hugging Face `tokenizer.json` with a WordPiece model describes: its
    /// vocabulary, `BertNormalizer` settings, added tokens, post-processor template and decoder.
    /// `modelMaxLength` defaults to the file's truncation length; the pad id is the file's
    /// padding id, else `[PAD]`'s.
    public init(tokenizerFile: URL, modelMaxLength: Int? = nil) throws {
        try self.init(json: TokenizerJSON(JSONField.read(tokenizerFile)), modelMaxLength: modelMaxLength)
    }

    init(json: TokenizerJSON, modelMaxLength: Int?) throws(FileError) {
        guard json.modelType == "WordPiece" else {
            throw json.model.error("is a \(json.modelType) model, not WordPiece")
        }
        let model = try WordPiece(
            vocabulary: json.vocabulary(),
            unknownToken: json.model.member("unk_token")?.string() ?? "[UNK]",
            continuingSubwordPrefix: json.model.member("continuing_subword_prefix")?.string() ?? "##",
            maxInputCharsPerWord: json.model.member("max_input_chars_per_word")?.int() ?? 100,
            source: json.root.file)
        let addedTokens = try json.addedTokens()

        var normalizer: BertNormalizer?
        if let (field, type) = try json.component("normalizer") {
            guard type == "BertNormalizer" else { throw field.error("has type \(type), which is not supported (supported: BertNormalizer)") }
            let lowercase = try field.member("lowercase")?.bool() ?? true
            normalizer = BertNormalizer(cleanText: try field.member("clean_text")?.bool() ?? true,
                                        handleChineseCharacters: try field.member("handle_chinese_chars")?.bool() ?? true,
                                        stripAccents: try field.member("strip_accents")?.bool() ?? lowercase,
                                        lowercase: lowercase)
        }
        guard let (preTokenizer, preTokenizerType) = try json.component("pre_tokenizer") else {
            throw json.root.error("has no pre_tokenizer (WordPiece tokenizers read BertPreTokenizer)")
        }
        guard preTokenizerType == "BertPreTokenizer" else {
            throw preTokenizer.error("has type \(preTokenizerType), which is not supported (supported: BertPreTokenizer)")
        }

        var decoder: WordPieceDecoder?
        if let (field, type) = try json.component("decoder") {
            guard type == "WordPiece" else { throw field.error("has type \(type), which is not supported (supported: WordPiece)") }
            decoder = WordPieceDecoder(prefix: try field.member("prefix")?.string() ?? "##", cleanup: try field.member("cleanup")?.bool() ?? true)
        }

        func isToken(_ id: Int) -> Bool { model.vocabulary.token(of: id) != nil || addedTokens.contains { $0.id == id } }
        let paddingID: Int
        if let id = try json.paddingID(isToken: isToken) {
            paddingID = id
        } else if let id = addedTokens.first(where: { $0.content == "[PAD]" })?.id ?? model.vocabulary.id(of: "[PAD]") {
            paddingID = id
        } else {
            throw json.root.error("has no padding settings and no [PAD] token")
        }
        let truncationLength = try json.truncationLength()
        self.init(normalizer: normalizer, model: model, addedTokens: addedTokens, postProcessor: try json.postProcessor(isToken: isToken),
                  decoder: decoder, paddingID: paddingID, modelMaxLength: modelMaxLength ?? truncationLength)
    }
}
