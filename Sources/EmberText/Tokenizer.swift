import Ember

/// One text, or a pair of texts, as a model reads it: token ids with their strings, the
/// segment (token type) of each and the attention mask. Field names follow Hugging Face's
/// `Encoding`.
public struct Encoding: Equatable, Sendable {
    public var ids: [Int]
    public var tokens: [String]
    public var typeIds: [Int]
    public var attentionMask: [Int]

    public init(ids: [Int], tokens: [String], typeIds: [Int], attentionMask: [Int]) {
        self.ids = ids
        self.tokens = tokens
        self.typeIds = typeIds
        self.attentionMask = attentionMask
    }
}

/// How `encode(batch:)` lengthens the encodings of a batch.
public enum Padding: Equatable, Sendable {
    /// Leaves each encoding its own length.
    case none
    /// Pads to the longest encoding of the batch.
    case longest
    /// Pads every encoding to this length (after truncating to it when asked).
    case maxLength(Int)
}

/// A tokenizer: text to token ids and back. Implementations: `WordPieceTokenizer` (BERT)
/// and `ByteLevelBPETokenizer` (GPT-2); `loadTokenizer(folder:)` picks one for a Hugging
/// Face model folder.
public protocol Tokenizer: Sendable {
    /// One more than the largest id it gives (vocabulary and added tokens): the rows an
    /// embedding of its ids needs. Hugging Face's `len(tokenizer)` when the ids have no gaps.
    var vocabularySize: Int { get }
    /// The id that pads a batch (BERT's `[PAD]`; for GPT-2 its end-of-text token).
    var paddingID: Int { get }

    /// The tokens of `text` without special tokens.
    func tokenize(_ text: String) -> [String]
    /// `text` (and `pair`) as ids. With `addSpecialTokens` the template's special tokens
    /// are added (`[CLS] a [SEP] b [SEP]` for BERT, none for GPT-2). With `maxLength` the
    /// longer sequence is truncated first (Hugging Face's `longest_first`) so that the
    /// result, special tokens included, has at most `maxLength` ids.
    func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding
    /// Text from ids, as Hugging Face's `decode` gives it.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

    func id(of token: String) -> Int?
    func token(of id: Int) -> String?
}

extension Tokenizer {
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        encode(text, pair: pair, addSpecialTokens: addSpecialTokens, maxLength: maxLength)
    }

    public func decode(_ ids: [Int]) -> String {
        decode(ids, skipSpecialTokens: true)
    }

    /// Encodes each text, truncates to `maxLength` when given and pads as `padding` says:
    /// the ids, masks and token types of a batch as Hugging Face's tokenizer returns them
    /// (padding on the right with `paddingID`, mask 0 and type 0).
    public func encode(batch texts: [String], addSpecialTokens: Bool = true, padding: Padding = .longest,
                       maxLength: Int? = nil) -> BatchEncoding {
        var limit = maxLength
        if case .maxLength(let length) = padding { limit = min(limit ?? length, length) }
        var encodings = texts.map { encode($0, pair: nil, addSpecialTokens: addSpecialTokens, maxLength: limit) }
        let target: Int?
        switch padding {
        case .none: target = nil
        case .longest: target = encodings.map(\.ids.count).max() ?? 0
        case .maxLength(let length): target = length
        }
        if let target {
            for i in encodings.indices {
                let missing = target - encodings[i].ids.count
                guard missing > 0 else { continue }
                encodings[i].ids += Array(repeating: paddingID, count: missing)
                encodings[i].tokens += Array(repeating: token(of: paddingID) ?? "", count: missing)
                encodings[i].typeIds += Array(repeating: 0, count: missing)
                encodings[i].attentionMask += Array(repeating: 0, count: missing)
            }
        }
        return BatchEncoding(encodings)
    }
}

/// The encodings of a batch, row by row, and as tensors for a model.
public struct BatchEncoding: Equatable, Sendable {
    public var encodings: [Encoding]

    public init(_ encodings: [Encoding]) { self.encodings = encodings }

    public var inputIDs: [[Int]] { encodings.map(\.ids) }
    public var attentionMask: [[Int]] { encodings.map(\.attentionMask) }
    public var tokenTypeIDs: [[Int]] { encodings.map(\.typeIds) }

    /// `[batch, length]` int64 tensors of ids, attention mask and token types. The rows
    /// must have equal lengths (pad the batch).
    public func tensors() -> (inputIDs: Tensor, attentionMask: Tensor, tokenTypeIDs: Tensor) {
        let length = encodings.first?.ids.count ?? 0
        precondition(encodings.allSatisfy { $0.ids.count == length }, "the batch's rows have different lengths: pad it")
        func tensor(_ rows: [[Int]]) -> Tensor {
            Tensor(rows.flatMap { $0.map(Int64.init) }, shape: [encodings.count, length])
        }
        return (tensor(inputIDs), tensor(attentionMask), tensor(tokenTypeIDs))
    }
}
