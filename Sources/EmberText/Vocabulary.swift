/// Tokens and their ids, matched byte for byte as Hugging Face does. (Swift's `String ==` is
/// canonical equivalence: as dictionary keys, "é" and "e\u{301}" would be one token.) The tokens
/// sit in a trie over their UTF-8 bytes, which also serves WordPiece's longest-prefix search.
struct Vocabulary: Sendable {
    static let root = 0

    /// Child node of each (node, byte) edge, keyed `node << 8 | byte`.
    private var edges: [Int: Int32] = [:]
    /// The id ending at each node, or -1.
    private var values: [Int] = [-1]
    private var tokens: [Int: String] = [:]

    /// The number of distinct tokens.
    var count: Int { tokens.count }
    /// One more than the largest id (its count when the ids have no gaps).
    var idBound: Int { (tokens.keys.max() ?? -1) + 1 }

    init() {}

    /// Adds `token` with `id`. A token given twice keeps its last id and the earlier id is left
    /// without a token, as in Hugging Face's `HashMap` vocabularies.
    mutating func insert(_ token: String, id: Int) {
        var node = Self.root
        for byte in token.utf8 {
            let key = node << 8 | Int(byte)
            if let next = edges[key] {
                node = Int(next)
            } else {
                values.append(-1)
                edges[key] = Int32(values.count - 1)
                node = values.count - 1
            }
        }
        let previous = values[node]
        if previous >= 0, previous != id { tokens[previous] = nil }
        values[node] = id
        tokens[id] = token
    }

    func id(of token: String) -> Int? {
        var node = Self.root
        for byte in token.utf8 {
            guard let next = child(of: node, byte) else { return nil }
            node = next
        }
        return id(at: node)
    }

    func token(of id: Int) -> String? { tokens[id] }

    func child(of node: Int, _ byte: UInt8) -> Int? {
        edges[node << 8 | Int(byte)].map(Int.init)
    }

    /// The id of the token that ends at `node`.
    func id(at node: Int) -> Int? {
        let value = values[node]
        return value >= 0 ? value : nil
    }
}
