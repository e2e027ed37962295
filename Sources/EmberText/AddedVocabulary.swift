/// A token recognised in the text before the model sees it: special tokens such as `[CLS]` or
/// `<|endoftext|>`, and tokens added to a vocabulary. Flags as in Hugging Face's `AddedToken`.
struct AddedToken: Sendable, Equatable {
    var content: String
    var id: Int
    /// Skipped by `decode(_:skipSpecialTokens: true)`.
    var special: Bool
    /// Matches only where no word character touches it.
    var singleWord = false
    /// Takes the whitespace on its left (right) into the match.
    var leftStrip = false
    var rightStrip = false
    /// Matched in the normalized text (otherwise in the raw text, before normalization).
    var normalized: Bool
}

/// The added tokens of a tokenizer, and the split of a text at them (Hugging Face's
/// `extract_and_normalize`): first the tokens matched in the raw text, then, in each normalized
/// piece between them, those matched after normalization.
struct AddedVocabulary: Sendable {
    /// A piece of the split text: an added token with the text it matched, or normalized text.
    enum Segment {
        case added(id: Int, text: String)
        case text([Unicode.Scalar])
    }

    private var byID: [Int: AddedToken] = [:]
    /// Ids by the UTF-8 of their content: compared byte for byte, as in `Vocabulary`.
    private var byContent: [[UInt8]: Int] = [:]
    private var rawPatterns = Patterns()
    private var normalizedPatterns = Patterns()
    private(set) var specialIDs: Set<Int> = []

    /// `normalize` gives the pattern of each normalized token.
    init(_ tokens: [AddedToken], normalize: ([Unicode.Scalar]) -> [Unicode.Scalar]) {
        for token in tokens where !token.content.isEmpty {
            byID[token.id] = token
            byContent[Array(token.content.utf8)] = token.id
            if token.special { specialIDs.insert(token.id) }
            if token.normalized {
                normalizedPatterns.add(normalize(Array(token.content.unicodeScalars)), token: token)
            } else {
                rawPatterns.add(Array(token.content.unicodeScalars), token: token)
            }
        }
    }

    func token(of id: Int) -> String? { byID[id]?.content }

    func id(of content: String) -> Int? { byContent[Array(content.utf8)] }

    func split(_ text: [Unicode.Scalar], normalize: ([Unicode.Scalar]) -> [Unicode.Scalar]) -> [Segment] {
        var segments = [Segment]()
        for piece in find(in: text, rawPatterns) {
            switch piece {
            case .added: segments.append(piece)
            case .text(let raw):
                let normalized = normalize(raw)
                guard !normalized.isEmpty else { continue }
                segments += find(in: normalized, normalizedPatterns)
            }
        }
        return segments
    }

    /// Leftmost-longest matches, as Aho-Corasick finds them; a single-word token that touches a
    /// word character is passed over without a second try inside it.
    private func find(in text: [Unicode.Scalar], _ patterns: Patterns) -> [Segment] {
        guard !patterns.isEmpty else { return [.text(text)] }
        var segments = [Segment]()
        var consumed = 0
        var position = 0
        while position < text.count {
            guard let (length, token) = patterns.longestMatch(in: text, at: position) else {
                position += 1
                continue
            }
            var start = position
            var stop = position + length
            position = stop
            if token.singleWord {
                let wordBefore = start > 0 && CharacterClasses.isWordCharacter(text[start - 1])
                let wordAfter = stop < text.count && CharacterClasses.isWordCharacter(text[stop])
                if wordBefore || wordAfter { continue }
            }
            if token.leftStrip {
                while start > consumed, CharacterClasses.isWhitespace(text[start - 1]) { start -= 1 }
            }
            if token.rightStrip {
                while stop < text.count, CharacterClasses.isWhitespace(text[stop]) { stop += 1 }
            }
            if consumed < start { segments.append(.text(Array(text[consumed..<start]))) }
            var matched = String.UnicodeScalarView()
            matched.append(contentsOf: text[start..<stop])
            segments.append(.added(id: token.id, text: String(matched)))
            consumed = stop
            position = max(position, stop)
        }
        if consumed < text.count { segments.append(.text(Array(text[consumed...]))) }
        return segments
    }

    /// Token patterns by their first character, longest first.
    private struct Patterns {
        private var byFirst: [Unicode.Scalar: [(pattern: [Unicode.Scalar], token: AddedToken)]] = [:]

        var isEmpty: Bool { byFirst.isEmpty }

        mutating func add(_ pattern: [Unicode.Scalar], token: AddedToken) {
            guard let first = pattern.first else { return }
            byFirst[first, default: []].append((pattern, token))
            byFirst[first]?.sort { $0.pattern.count > $1.pattern.count }
        }

        func longestMatch(in text: [Unicode.Scalar], at position: Int) -> (length: Int, token: AddedToken)? {
            guard let candidates = byFirst[text[position]] else { return nil }
            for (pattern, token) in candidates where position + pattern.count <= text.count
                && text[position..<(position + pattern.count)].elementsEqual(pattern) {
                return (pattern.count, token)
            }
            return nil
        }
    }
}
