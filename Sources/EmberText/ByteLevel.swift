/// GPT-2's byte-level pre-tokenizer: the text is split by GPT-2's pattern, and each piece is
/// seen as UTF-8 bytes, each byte standing for one printable character (so that a vocabulary of
/// strings covers every byte sequence).
enum ByteLevel {
    /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68
    /// bytes for U+0100 onwards, in order (space → "Ġ", newline → "Ċ").
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            switch byte {
            case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF:
                table[byte] = Unicode.Scalar(UInt8(byte))
            default:
                // 256 + n stays below U+0144: always a valid scalar.
                table[byte] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The byte each of the 256 characters stands for.
    static let bytes: [Unicode.Scalar: UInt8] = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($0.element, UInt8($0.offset)) })

    /// The byte-level string of some UTF-8 bytes.
    static func string(_ utf8: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in utf8 { text.append(characters[Int(byte)]) }
        return String(text)
    }

    /// The pieces of GPT-2's pattern
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    /// matched by hand: at each position the first alternative that matches wins, each as
    /// long as it goes. Every character falls in some piece.
    static func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces = [Range<Int>]()
        var start = 0
        while start < text.count {
            let end = pieceEnd(text, from: start)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }

    private enum Kind { case letter, number, whitespace, other }

    private static func kind(_ scalar: Unicode.Scalar) -> Kind {
        if CharacterClasses.isLetter(scalar) { return .letter }
        if CharacterClasses.isNumber(scalar) { return .number }
        if CharacterClasses.isWhitespace(scalar) { return .whitespace }
        return .other
    }

    private static func pieceEnd(_ text: [Unicode.Scalar], from start: Int) -> Int {
        // 's 't 're 've 'm 'll 'd
        if text[start] == "'", start + 1 < text.count {
            switch text[start + 1] {
            case "s", "t", "m", "d": return start + 2
            case "r", "v", "l":
                let second: Unicode.Scalar = text[start + 1] == "l" ? "l" : "e"
                if start + 2 < text.count, text[start + 2] == second { return start + 3 }
            default: break
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a run of one kind, after an optional space.
        let runStart = text[start] == " " && start + 1 < text.count && kind(text[start + 1]) != .whitespace ? start + 1 : start
        let runKind = kind(text[runStart])
        if runKind != .whitespace {
            var end = runStart + 1
            while end < text.count, kind(text[end]) == runKind { end += 1 }
            return end
        }
        // `\s+(?!\S)` backs off one character when non-space follows the run; `\s+` takes a lone one.
        var end = start + 1
        while end < text.count, kind(text[end]) == .whitespace { end += 1 }
        if end == text.count || end - start == 1 { return end }
        return end - 1
    }
}
