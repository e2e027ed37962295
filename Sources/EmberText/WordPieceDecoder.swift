/// Hugging Face's WordPiece decoder: tokens joined with spaces, continuation tokens glued on
/// without their prefix, and with `cleanup`, the spaces tokenization put before punctuation and
/// English contractions removed token by token ("hello ," → "hello,"). Replacements are byte
/// for byte, as in Rust, not by canonical equivalence as `String` would match.
struct WordPieceDecoder: Sendable, Equatable {
    var prefix = "##"
    var cleanup = true

    private static let cleanupReplacements: [(pattern: [UInt8], replacement: [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    func decode(_ tokens: [String]) -> String {
        let prefixBytes = Array(prefix.utf8)
        var text = [UInt8]()
        for (index, token) in tokens.enumerated() {
            var piece = Array(token.utf8)
            if index > 0 {
                if piece.starts(with: prefixBytes) {
                    piece.removeFirst(prefixBytes.count)
                } else {
                    piece.insert(UInt8(ascii: " "), at: 0)
                }
            }
            if cleanup {
                for (pattern, replacement) in Self.cleanupReplacements {
                    piece = Self.replacing(pattern, with: replacement, in: piece)
                }
            }
            text += piece
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Every non-overlapping occurrence of `pattern`, left to right, replaced.
    private static func replacing(_ pattern: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= pattern.count else { return bytes }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if index + pattern.count <= bytes.count, bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                out += replacement
                index += pattern.count
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}
