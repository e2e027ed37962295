import EmberIO
import Foundation

extension ByteLevelBPETokenizer {
    /// The tokenizer a Hugging Face `tokenizer.json` with a BPE model and the ByteLevel
    /// pre-tokenizer describes: vocabulary, merges (as "a b" strings or [a, b] pairs), added
    /// tokens and post-processor. Batches are padded with `paddingToken` if given, else with the
    /// file's padding id, else with `endOfTextToken`. `modelMaxLength` defaults to the file's
    /// truncation length.
    public init(tokenizerFile: URL, paddingToken: String? = nil, endOfTextToken: String = "<|endoftext|>", modelMaxLength: Int? = nil) throws {
        try self.init(json: TokenizerJSON(JSONField.read(tokenizerFile)), paddingToken: paddingToken, endOfTextToken: endOfTextToken,
                      modelMaxLength: modelMaxLength)
    }

    init(json: TokenizerJSON, paddingToken: String?, endOfTextToken: String, modelMaxLength: Int?) throws(FileError) {
        guard json.modelType == "BPE" else { throw json.model.error("is a \(json.modelType) model, not BPE") }
        let model = json.model
        if try model.member("byte_fallback")?.bool() == true {
            throw model.error("uses byte_fallback, which byte-level BPE does not (supported: byte-level BPE)")
        }
        let merges = try model.required("merges").elements().map { (merge: JSONField) throws(FileError) -> (String, String) in
            if case .string(let text) = merge.value {
                let parts = text.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw merge.error("should be two tokens separated by a space") }
                return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
            }
            let pair = try merge.elements()
            guard pair.count == 2 else { throw merge.error("should be a pair of tokens") }
            return (try pair[0].string(), try pair[1].string())
        }
        let bpe = try BytePairEncoding(
            vocabulary: json.vocabulary(), merges: merges, unknownToken: model.member("unk_token")?.string(),
            fuseUnknown: model.member("fuse_unk")?.bool() ?? false,
            continuingSubwordPrefix: model.member("continuing_subword_prefix")?.string(),
            endOfWordSuffix: model.member("end_of_word_suffix")?.string(),
            ignoreMerges: model.member("ignore_merges")?.bool() ?? false, source: json.root.file)

        if let (field, type) = try json.component("normalizer") {
            throw field.error("has type \(type); byte-level BPE tokenizers take no normalizer")
        }
        let (addPrefixSpace, splitsWords) = try Self.byteLevelSettings(json)
        if let (field, type) = try json.component("decoder"), type != "ByteLevel" {
            throw field.error("has type \(type), which is not supported (supported: ByteLevel)")
        }

        let addedTokens = try json.addedTokens()
        func id(of token: String) -> Int? {
            addedTokens.first { Array($0.content.utf8) == Array(token.utf8) }?.id ?? bpe.vocabulary.id(of: token)
        }
        func isToken(_ id: Int) -> Bool { bpe.vocabulary.token(of: id) != nil || addedTokens.contains { $0.id == id } }
        let paddingID: Int
        if let paddingToken {
            guard let id = id(of: paddingToken) else { throw json.root.error("has no \(paddingToken) token to pad with") }
            paddingID = id
        } else if let id = try json.paddingID(isToken: isToken) {
            paddingID = id
        } else if let id = id(of: endOfTextToken) {
            paddingID = id
        } else {
            throw json.root.error("has no padding settings and no \(endOfTextToken) token: give the token to pad with")
        }
        let truncationLength = try json.truncationLength()
        self.init(model: bpe, addPrefixSpace: addPrefixSpace, splitsWords: splitsWords, addedTokens: addedTokens,
                  postProcessor: try json.postProcessor(isToken: isToken), paddingID: paddingID, modelMaxLength: modelMaxLength ?? truncationLength)
    }

    /// `add_prefix_space` and `use_regex` of the ByteLevel pre-tokenizer (alone or the only
    /// member of a Sequence), with Hugging Face's defaults (both true).
    private static func byteLevelSettings(_ json: TokenizerJSON) throws(FileError) -> (addPrefixSpace: Bool, splitsWords: Bool) {
        guard var (field, type) = try json.component("pre_tokenizer") else {
            throw json.root.error("has no pre_tokenizer (byte-level BPE tokenizers read ByteLevel)")
        }
        if type == "Sequence" {
            let members = try field.required("pretokenizers").elements()
            guard members.count == 1 else {
                throw field.error("has \(members.count) pre-tokenizers, which is not supported (supported: ByteLevel alone)")
            }
            field = members[0]
            type = try field.required("type").string()
        }
        guard type == "ByteLevel" else { throw field.error("has type \(type), which is not supported (supported: ByteLevel)") }
        return (try field.member("add_prefix_space")?.bool() ?? true, try field.member("use_regex")?.bool() ?? true)
    }
}
