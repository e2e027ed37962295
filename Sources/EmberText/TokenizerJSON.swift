import EmberIO
/// The parts of a Hugging Face `tokenizer.json` that WordPiece and BPE tokenizers share: the
/// model's type and vocabulary, the added tokens, the post-processor and the truncation and
/// padding settings. Whatever this reader does not implement is an error naming the entry,
/// never silently ignored.
struct TokenizerJSON {
    let root: JSONField
    let model: JSONField
    /// "WordPiece", "BPE", ...; inferred from the model's fields when `type` is absent, as
    /// Hugging Face does for older files.
    let modelType: String

    init(_ root: JSONField) throws(FileError) {
        self.root = root
        model = try root.required("model")
        if let type = try model.member("type") {
            modelType = try type.string()
        } else if try model.member("merges") != nil {
            modelType = "BPE"
        } else if try model.member("continuing_subword_prefix") != nil {
            modelType = "WordPiece"
        } else if try model.member("max_input_chars_per_word") != nil {
            modelType = "WordPiece"
        } else {
            throw model.error("has no type, and its fields are not those of a WordPiece or BPE model")
        }
    }

    /// The component `key` (`normalizer`, `decoder`, ...) and its type; nil when it is null.
    func component(_ key: String) throws(FileError) -> (field: JSONField, type: String)? {
        guard let field = try root.member(key) else { return nil }
        return (field, try field.required("type").string())
    }

    /// `model.vocab`: token → id.
    func vocabulary() throws(FileError) -> Vocabulary {
        var vocabulary = Vocabulary()
        for (token, id) in try model.required("vocab").members() { vocabulary.insert(token, id: try id.id()) }
        guard vocabulary.count > 0 else { throw model.error("has an empty vocab") }
        return vocabulary
    }

    func addedTokens() throws(FileError) -> [AddedToken] {
        guard let list = try root.member("added_tokens") else { return [] }
        return try list.elements().map { (entry: JSONField) throws(FileError) -> AddedToken in
            func flag(_ key: String, default value: Bool) throws(FileError) -> Bool {
                try entry.member(key)?.bool() ?? value
            }
            let special = try flag("special", default: false)
            return AddedToken(content: try entry.required("content").string(), id: try entry.required("id").id(), special: special,
                              singleWord: try flag("single_word", default: false), leftStrip: try flag("lstrip", default: false),
                              rightStrip: try flag("rstrip", default: false), normalized: try flag("normalized", default: !special))
        }
    }

    /// `truncation.max_length`, the length the file's authors truncated to.
    func truncationLength() throws(FileError) -> Int? {
        try root.member("truncation")?.required("max_length").int()
    }

    /// `padding.pad_id`, which must be one of the tokens (`isToken`).
    func paddingID(isToken: (Int) -> Bool) throws(FileError) -> Int? {
        guard let field = try root.member("padding")?.member("pad_id") else { return nil }
        return try field.tokenID(isToken)
    }

    /// The post-processor: none, `ByteLevel` (which adds no tokens), `BertProcessing`,
    /// `TemplateProcessing`, or a `Sequence` of these with at most one that adds tokens. The
    /// ids it adds must be tokens of the vocabulary or added tokens (`isToken`): any other id
    /// would index past a model's embeddings.
    func postProcessor(isToken: (Int) -> Bool) throws(FileError) -> PostProcessor {
        guard let (field, type) = try component("post_processor") else { return .plain }
        return try Self.postProcessor(field, type: type, isToken: isToken) ?? .plain
    }

    /// Nil for a processor that changes no ids.
    private static func postProcessor(_ field: JSONField, type: String, isToken: (Int) -> Bool) throws(FileError) -> PostProcessor? {
        switch type {
        case "ByteLevel":
            return nil
        case "BertProcessing":
            func pair(_ key: String) throws(FileError) -> (token: String, id: Int) {
                let entry = try field.required(key)
                let elements = try entry.elements()
                guard elements.count == 2 else { throw entry.error("should be [token, id]") }
                return (try elements[0].string(), try elements[1].tokenID(isToken))
            }
            return .bert(classifier: try pair("cls"), separator: try pair("sep"))
        case "TemplateProcessing":
            return try template(field, isToken: isToken)
        case "Sequence":
            var found: PostProcessor?
            for processor in try field.required("processors").elements() {
                guard let processed = try postProcessor(processor, type: try processor.required("type").string(), isToken: isToken) else { continue }
                guard found == nil else { throw field.error("has two post-processors that add special tokens") }
                found = processed
            }
            return found
        default:
            throw field.error("has type \(type), which is not supported (supported: TemplateProcessing, BertProcessing, ByteLevel, Sequence)")
        }
    }

    private static func template(_ field: JSONField, isToken: (Int) -> Bool) throws(FileError) -> PostProcessor {
        var specials: [String: (ids: [Int], tokens: [String])] = [:]
        if let table = try field.member("special_tokens") {
            for (name, entry) in try table.members() {
                let ids = try entry.required("ids").elements().map { (id: JSONField) throws(FileError) in try id.tokenID(isToken) }
                let tokens = try entry.required("tokens").elements().map { (token: JSONField) throws(FileError) in try token.string() }
                guard ids.count == tokens.count else { throw entry.error("has \(ids.count) ids but \(tokens.count) tokens") }
                specials[name] = (ids, tokens)
            }
        }
        func pieces(_ key: String) throws(FileError) -> [PostProcessor.Piece] {
            try field.required(key).elements().map { (element: JSONField) throws(FileError) -> PostProcessor.Piece in
                if let sequence = try element.member("Sequence") {
                    let name = try sequence.required("id").string()
                    guard name == "A" || name == "B" else { throw sequence.error("names sequence \(name), not A or B") }
                    return .sequence(second: name == "B", typeID: try sequence.member("type_id")?.int() ?? 0)
                }
                guard let special = try element.member("SpecialToken") else { throw element.error("is neither a Sequence nor a SpecialToken") }
                let name = try special.required("id").string()
                guard let entry = specials[name] else { throw special.error("names \(name), which is not among special_tokens") }
                return .special(ids: entry.ids, tokens: entry.tokens, typeID: try special.member("type_id")?.int() ?? 0)
            }
        }
        return PostProcessor(single: try pieces("single"), pair: try pieces("pair"))
    }
}
