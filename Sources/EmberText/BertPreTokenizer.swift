/// Hugging Face's `BertPreTokenizer`: words are split at whitespace (which is dropped) and at
/// each punctuation character (which becomes a word of its own).
enum BertPreTokenizer {
    static func words(_ text: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words = [ArraySlice<Unicode.Scalar>]()
        var start = 0
        for (index, scalar) in text.enumerated() {
            if CharacterClasses.isWhitespace(scalar) {
                if start < index { words.append(text[start..<index]) }
                start = index + 1
            } else if CharacterClasses.isBertPunctuation(scalar) {
                if start < index { words.append(text[start..<index]) }
                words.append(text[index...index])
                start = index + 1
            }
        }
        if start < text.count { words.append(text[start...]) }
        return words
    }
}
