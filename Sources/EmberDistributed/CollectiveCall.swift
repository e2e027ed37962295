import Foundation
import Ember

/// One collective as a rank called it: what ranks must agree on before data moves, with
/// the checks each rank can make alone.
struct CollectiveCall: Equatable {
    enum Kind: Int64 {
        case allReduce = 1, broadcast, allGather, reduceScatter, allToAll, barrier, send, receive, subgroup
    }

    var kind: Kind
    var op: CollectiveReduction?
    var root: Int?
    var dtype: DType?
    /// The operand's shape (for `subgroup`, the ranks listed).
    var shape: [Int]

    init(_ kind: Kind, _ tensor: Tensor? = nil, op: CollectiveReduction? = nil, root: Int? = nil, shape: [Int]? = nil) {
        self.kind = kind
        self.op = op
        self.root = root
        dtype = tensor?.dtype
        self.shape = shape ?? tensor?.shape ?? []
    }

    /// The name users know it by: "allreduce", "broadcast", ...
    var name: String {
        switch kind {
        case .allReduce: return "allreduce"
        case .broadcast: return "broadcast"
        case .allGather: return "allgather"
        case .reduceScatter: return "reduce_scatter"
        case .allToAll: return "all_to_all"
        case .barrier: return "barrier"
        case .send: return "send"
        case .receive: return "receive"
        case .subgroup: return "subgroup"
        }
    }

    /// "allreduce(sum) of float32 [4, 3]", as shown when ranks disagree.
    var summary: String {
        var text = name
        if let op { text += "(\(op.rawValue))" }
        if let root { text += "(root \(root))" }
        if kind == .subgroup { return text + " of ranks \(shape)" }
        if let dtype { text += " of \(dtype) \(shape)" }
        return text
    }

    /// Checks what one rank can check alone; `position` is "allreduce #3".
    func validate(_ tensor: Tensor?, rank: Int, worldSize: Int, position: String) throws(CollectiveError) {
        func fail(_ problem: String) -> CollectiveError { CollectiveError(rank: rank, collective: position, problem: problem) }
        if let tensor, tensor.isAbstract {
            throw fail("collectives need concrete tensors and cannot be traced (run them outside compile and vmap)")
        }
        if let root, !(0..<worldSize).contains(root) {
            throw fail("rank \(root) is not in a group of \(worldSize) ranks")
        }
        if let tensor, tensor.count > Int(Int32.max) {
            throw fail("\(tensor.count) elements is more than MPI's count limit of \(Int32.max); split the tensor")
        }
        if let op, let dtype {
            if op == .average && !dtype.isFloatingPoint {
                throw fail("average needs a floating-point tensor, got \(dtype) (use sum)")
            }
            if op == .sum && dtype == .bool { throw fail("sum of bool tensors is not defined (use max for any, min for all)") }
        }
        if kind == .reduceScatter || kind == .allToAll {
            if shape.isEmpty || shape[0] % worldSize != 0 {
                throw fail("the first axis of the tensor (shape \(shape)) must be a multiple of the world size \(worldSize)")
            }
        }
        if kind == .subgroup {
            if let bad = shape.first(where: { !(0..<worldSize).contains($0) }) {
                throw fail("rank \(bad) is not in a group of \(worldSize) ranks")
            }
            if Set(shape).count != shape.count { throw fail("ranks \(shape) list a rank twice") }
        }
    }

    // MARK: Wire form, compared across ranks

    static let encodedCount = 16
    private static let inlineDimensions = 9

    /// Sixteen integers: kind, op, root, dtype, rank of the shape, sequence number, up to
    /// nine sizes, and a hash of any further ones.
    func encoded(sequence: Int) -> [Int64] {
        var words = [Int64](repeating: -1, count: Self.encodedCount)
        words[0] = kind.rawValue
        words[1] = op.map { Int64(CollectiveReduction.allCases.firstIndex(of: $0)!) } ?? -1
        words[2] = root.map(Int64.init) ?? -1
        words[3] = dtype.map { Int64($0.rawValue) } ?? -1
        words[4] = Int64(shape.count)
        words[5] = Int64(sequence)
        for (i, size) in shape.prefix(Self.inlineDimensions).enumerated() { words[6 + i] = Int64(size) }
        if shape.count > Self.inlineDimensions {
            // FNV-1a over the remaining sizes: equal shapes give equal words on every rank.
            var hash: UInt64 = 0xcbf29ce484222325
            for size in shape.dropFirst(Self.inlineDimensions) { hash = (hash ^ UInt64(bitPattern: Int64(size))) &* 0x100000001b3 }
            words[15] = Int64(bitPattern: hash)
        }
        return words
    }

    /// A summary of the call another rank encoded (sizes past the ninth shown as "...").
    static func summary(of words: ArraySlice<Int64>) -> String {
        let w = Array(words)
        guard let kind = Kind(rawValue: w[0]) else { return "an unknown operation (\(w[0]))" }
        var call = CollectiveCall(kind)
        call.op = w[1] >= 0 && w[1] < CollectiveReduction.allCases.count ? CollectiveReduction.allCases[Int(w[1])] : nil
        call.root = w[2] >= 0 ? Int(w[2]) : nil
        call.dtype = w[3] >= 0 ? DType(rawValue: Int(w[3])) : nil
        let rank = Int(w[4])
        call.shape = (0..<min(rank, inlineDimensions)).map { Int(w[6 + $0]) }
        var text = call.summary
        if rank > inlineDimensions { text = text.replacingOccurrences(of: "]", with: ", ...]") }
        return text
    }

    /// The problem when the ranks' encoded calls differ, nil when they agree. `all` holds
    /// every rank's sixteen words in rank order.
    static func disagreement(_ all: [Int64], worldSize: Int) -> String? {
        let calls = (0..<worldSize).map { all[($0 * encodedCount)..<(($0 + 1) * encodedCount)] }
        if calls.allSatisfy({ $0.elementsEqual(calls[0]) }) { return nil }
        // Group the ranks by what they called, in rank order.
        var groups = [(call: ArraySlice<Int64>, ranks: [Int])]()
        for (rank, call) in calls.enumerated() {
            if let i = groups.firstIndex(where: { $0.call.elementsEqual(call) }) {
                groups[i].ranks.append(rank)
            } else {
                groups.append((call, [rank]))
            }
        }
        let parts = groups.map { group in
            let who = group.ranks.count == 1 ? "rank \(group.ranks[0])" : "ranks \(group.ranks.map(String.init).joined(separator: ", "))"
            return "\(who) called \(summary(of: group.call)) as collective #\(group.call[group.call.startIndex + 5])"
        }
        return "the ranks disagree: " + parts.joined(separator: "; ")
    }
}
