import EmberIO
import Synchronization

/// The BPE model: a word starts as one symbol per character and adjacent symbols are merged,
/// lowest merge rank first (leftmost among equal ranks), until no listed merge applies, as
/// Hugging Face's `BPE` does.
struct BytePairEncoding: Sendable {
    struct Merge: Sendable {
        var rank: Int
        var id: Int
    }

    let vocabulary: Vocabulary
    /// Merges by the pair of ids they join, keyed `left << 32 | right`.
    let merges: [Int: Merge]
    let unknownID: Int?
    /// Consecutive unknown characters become one unknown token.
    let fuseUnknown: Bool
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    /// A word that is a token is that token, whatever the merges would give (Llama 3).
    let ignoreMerges: Bool
    /// The id of each byte's character, when no prefix or suffix changes the symbols.
    private let byteIDs: [Int?]
    private let cache = WordCache()

    /// `merges` in rank order, as pairs of tokens. `source` names the file for errors.
    init(vocabulary: Vocabulary, merges: [(String, String)], unknownToken: String? = nil, fuseUnknown: Bool = false,
         continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil, ignoreMerges: Bool = false,
         source: String) throws(FileError) {
        var table = [Int: Merge]()
        let prefixLength = continuingSubwordPrefix?.utf8.count ?? 0
        for (rank, (left, right)) in merges.enumerated() {
            // The merged token is left + right without right's prefix, compared as bytes.
            let merged = String(decoding: Array(left.utf8) + Array(right.utf8.dropFirst(prefixLength)), as: UTF8.self)
            for token in [left, right, merged] where vocabulary.id(of: token) == nil {
                throw FileError(.tokenizer, path: source, problem: "merge \(rank + 1) (\(left) \(right)) needs \(token), which is not in the vocabulary")
            }
            if let leftID = vocabulary.id(of: left), let rightID = vocabulary.id(of: right), let id = vocabulary.id(of: merged) {
                table[leftID << 32 | rightID] = Merge(rank: rank, id: id)
            }
        }
        var unknownID: Int?
        if let unknownToken {
            guard let id = vocabulary.id(of: unknownToken) else {
                throw FileError(.tokenizer, path: source, problem: "the unknown token \(unknownToken) is not in the vocabulary")
            }
            unknownID = id
        }
        self.vocabulary = vocabulary
        self.merges = table
        self.unknownID = unknownID
        self.fuseUnknown = fuseUnknown
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.ignoreMerges = ignoreMerges
        byteIDs = ByteLevel.characters.map { vocabulary.id(of: String($0)) }
    }

    /// The ids of one pre-tokenized piece, given as its UTF-8 bytes.
    func encode(_ word: [UInt8]) -> [Int] {
        guard !word.isEmpty else { return [] }
        if ignoreMerges, let id = vocabulary.id(of: ByteLevel.string(word)) { return [id] }
        if let ids = cache[word] { return ids }
        let ids = merged(symbols(word))
        cache[word] = ids
        return ids
    }

    /// One id per byte-level character, unknown ones as the unknown token or dropped.
    private func symbols(_ word: [UInt8]) -> [Int] {
        var ids = [Int]()
        ids.reserveCapacity(word.count)
        var pendingUnknown = false
        for (index, byte) in word.enumerated() {
            let id: Int?
            if continuingSubwordPrefix == nil && endOfWordSuffix == nil {
                id = byteIDs[Int(byte)]
            } else {
                var symbol = String(ByteLevel.characters[Int(byte)])
                if index > 0, let prefix = continuingSubwordPrefix { symbol = prefix + symbol }
                if index == word.count - 1, let suffix = endOfWordSuffix { symbol += suffix }
                id = vocabulary.id(of: symbol)
            }
            if let id {
                if pendingUnknown, let unknownID { ids.append(unknownID) }
                pendingUnknown = false
                ids.append(id)
            } else if let unknownID {
                if pendingUnknown && !fuseUnknown { ids.append(unknownID) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknownID { ids.append(unknownID) }
        return ids
    }

    /// The merges applied through a queue of candidate pairs ordered by (rank, position); an
    /// entry whose pair has changed since it was queued is skipped.
    private func merged(_ initial: [Int]) -> [Int] {
        guard initial.count > 1 else { return initial }
        var ids = initial
        var previous = Array(-1..<(ids.count - 1))
        var next = Array(1...ids.count)
        next[ids.count - 1] = -1
        var removed = [Bool](repeating: false, count: ids.count)
        var queue = MergeQueue()
        for position in 0..<(ids.count - 1) {
            if let merge = merges[ids[position] << 32 | ids[position + 1]] { queue.push(rank: merge.rank, position: position, id: merge.id) }
        }
        while let top = queue.pop() {
            let right = next[top.position]
            guard !removed[top.position], right >= 0,
                  let merge = merges[ids[top.position] << 32 | ids[right]], merge.id == top.id else { continue }
            ids[top.position] = top.id
            removed[right] = true
            next[top.position] = next[right]
            if next[right] >= 0 { previous[next[right]] = top.position }
            let before = previous[top.position]
            if before >= 0, let merge = merges[ids[before] << 32 | ids[top.position]] {
                queue.push(rank: merge.rank, position: before, id: merge.id)
            }
            let after = next[top.position]
            if after >= 0, let merge = merges[ids[top.position] << 32 | ids[after]] {
                queue.push(rank: merge.rank, position: top.position, id: merge.id)
            }
        }
        return ids.indices.filter { !removed[$0] }.map { ids[$0] }
    }
}

/// A binary min-heap of candidate merges, by rank then position.
private struct MergeQueue {
    private var items: [(rank: Int, position: Int, id: Int)] = []

    private static func precedes(_ a: (rank: Int, position: Int, id: Int), _ b: (rank: Int, position: Int, id: Int)) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(rank: Int, position: Int, id: Int) {
        items.append((rank, position, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (rank: Int, position: Int, id: Int)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, Self.precedes(items[left], items[smallest]) { smallest = left }
            if right < items.count, Self.precedes(items[right], items[smallest]) { smallest = right }
            guard smallest != parent else { return first }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// The ids of words already seen: a word's merges are worked out once. Shared by copies of the
/// tokenizer and safe across threads; it stops growing at `capacity` words, like Hugging Face's.
private final class WordCache: Sendable {
    static let capacity = 10_000
    /// Longer words are rare and are not kept.
    static let longestWord = 256

    private let entries = Mutex<[[UInt8]: [Int]]>([:])

    subscript(word: [UInt8]) -> [Int]? {
        get { entries.withLock { $0[word] } }
        set {
            guard let newValue, word.count < Self.longestWord else { return }
            entries.withLock { entries in
                if entries.count < Self.capacity { entries[word] = newValue }
            }
        }
    }
}
