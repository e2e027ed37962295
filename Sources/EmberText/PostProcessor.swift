/// The tokens of one text, before special tokens are added. The token strings are kept beside
/// the ids because Hugging Face reports an added token as the text it matched (" <sep> " when
/// the token strips the spaces around it).
struct TokenSequence: Sendable {
    var ids: [Int] = []
    var tokens: [String] = []

    mutating func append(id: Int, token: String) {
        ids.append(id)
        tokens.append(token)
    }

    mutating func truncate(to length: Int) {
        guard ids.count > length else { return }
        ids.removeLast(ids.count - length)
        tokens.removeLast(tokens.count - length)
    }
}

/// Hugging Face's post-processing: truncation of the two sequences, then the template that adds
/// special tokens and sets token types (`TemplateProcessing`; `BertProcessing` is the template
/// `[CLS] $A [SEP]`, `[CLS] $A [SEP] $B:1 [SEP]:1`).
struct PostProcessor: Sendable, Equatable {
    enum Piece: Sendable, Equatable {
        /// The first text ("$A") or the second ("$B"), its tokens given `typeID`.
        case sequence(second: Bool, typeID: Int)
        case special(ids: [Int], tokens: [String], typeID: Int)
    }

    var single: [Piece]
    var pair: [Piece]

    /// No special tokens; the second text of a pair has token type 1 (what Hugging Face does
    /// without a post-processor, or with GPT-2's ByteLevel one).
    static let plain = PostProcessor(single: [.sequence(second: false, typeID: 0)],
                                     pair: [.sequence(second: false, typeID: 0), .sequence(second: true, typeID: 1)])

    static func bert(classifier: (token: String, id: Int), separator: (token: String, id: Int)) -> PostProcessor {
        let cls = Piece.special(ids: [classifier.id], tokens: [classifier.token], typeID: 0)
        return PostProcessor(
            single: [cls, .sequence(second: false, typeID: 0), .special(ids: [separator.id], tokens: [separator.token], typeID: 0)],
            pair: [cls, .sequence(second: false, typeID: 0), .special(ids: [separator.id], tokens: [separator.token], typeID: 0),
                   .sequence(second: true, typeID: 1), .special(ids: [separator.id], tokens: [separator.token], typeID: 1)])
    }

    /// The number of ids the template adds.
    func addedCount(pair isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) { count, piece in
            if case .special(let ids, _, _) = piece { return count + ids.count }
            return count
        }
    }

    func encode(_ first: TokenSequence, _ second: TokenSequence?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding {
        var first = first
        var second = second
        if let maxLength {
            let added = addSpecialTokens ? addedCount(pair: second != nil) : 0
            Self.truncateLongestFirst(&first, &second, to: max(0, maxLength - added))
        }
        var encoding = Encoding(ids: [], tokens: [], typeIds: [], attentionMask: [])
        for piece in second == nil ? single : pair {
            switch piece {
            case .sequence(let isSecond, let typeID):
                guard let sequence = isSecond ? second : first else { continue }
                encoding.ids += sequence.ids
                encoding.tokens += sequence.tokens
                encoding.typeIds += Array(repeating: typeID, count: sequence.ids.count)
            case .special(let ids, let tokens, let typeID):
                guard addSpecialTokens else { continue }
                encoding.ids += ids
                encoding.tokens += tokens
                encoding.typeIds += Array(repeating: typeID, count: ids.count)
            }
        }
        encoding.attentionMask = Array(repeating: 1, count: encoding.ids.count)
        return encoding
    }

    /// Hugging Face's `longest_first`: when both texts do not fit, the shorter keeps its length
    /// if it fits in half, and the longer gets the rest; otherwise each gets half (the second
    /// the odd one).
    static func truncateLongestFirst(_ first: inout TokenSequence, _ second: inout TokenSequence?, to maxLength: Int) {
        guard var other = second else {
            first.truncate(to: maxLength)
            return
        }
        guard first.ids.count + other.ids.count > maxLength else { return }
        let firstIsShorter = first.ids.count <= other.ids.count
        var shorter = min(first.ids.count, other.ids.count)
        var longer = shorter > maxLength ? shorter : max(shorter, maxLength - shorter)
        if shorter + longer > maxLength {
            shorter = maxLength / 2
            longer = shorter + maxLength % 2
        }
        first.truncate(to: firstIsShorter ? shorter : longer)
        other.truncate(to: firstIsShorter ? longer : shorter)
        second = other
    }
}
