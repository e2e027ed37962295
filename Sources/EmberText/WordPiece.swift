import EmberIO
/// The WordPiece model: each word becomes the longest vocabulary token that starts it, then the
/// longest `##` continuation that starts the rest, and so on; a word with a rest that no token
/// starts, or longer than `maxInputCharsPerWord` characters, becomes the unknown token.
struct WordPiece: Sendable {
    let vocabulary: Vocabulary
    let unknownToken: String
    let unknownID: Int
    let maxInputCharsPerWord: Int
    /// The trie node after the prefix: where continuation tokens are searched; nil when no
    /// token starts with the prefix.
    private let continuationNode: Int?

    init(vocabulary: Vocabulary, unknownToken: String, continuingSubwordPrefix: String = "##",
         maxInputCharsPerWord: Int = 100, source: String) throws(FileError) {
        guard let unknownID = vocabulary.id(of: unknownToken) else {
            throw FileError(.tokenizer, path: source, problem: "the unknown token \(unknownToken) is not in the vocabulary")
        }
        self.vocabulary = vocabulary
        self.unknownToken = unknownToken
        self.unknownID = unknownID
        self.maxInputCharsPerWord = maxInputCharsPerWord
        var node: Int? = Vocabulary.root
        for byte in continuingSubwordPrefix.utf8 { node = node.flatMap { vocabulary.child(of: $0, byte) } }
        continuationNode = node
    }

    func tokenize(_ word: ArraySlice<Unicode.Scalar>, into sequence: inout TokenSequence) {
        guard word.count <= maxInputCharsPerWord else {
            sequence.append(id: unknownID, token: unknownToken)
            return
        }
        var utf8 = [UInt8]()
        utf8.reserveCapacity(word.count * 2)
        for scalar in word { UTF8.encode(scalar) { utf8.append($0) } }
        var pieces = [Int]()
        var start = 0
        while start < utf8.count {
            // Every node on the path is a prefix of the rest; the deepest with an id wins.
            var node = start == 0 ? Vocabulary.root : continuationNode
            var match: (end: Int, id: Int)?
            var position = start
            while let current = node, position < utf8.count, let next = vocabulary.child(of: current, utf8[position]) {
                position += 1
                node = next
                if let id = vocabulary.id(at: next) { match = (position, id) }
            }
            guard let match else {
                sequence.append(id: unknownID, token: unknownToken)
                return
            }
            pieces.append(match.id)
            start = match.end
        }
        for id in pieces { sequence.append(id: id, token: vocabulary.token(of: id) ?? unknownToken) }
    }
}
