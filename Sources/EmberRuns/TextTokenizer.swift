import EmberText
import Foundation

/// How a run turns text into token ids: the UTF-8 bytes of the text (ids 0-255, padding
/// 256), or a Hugging Face tokenizer folder (tokenizer.json, vocab.txt, ...).
public struct TextTokenizer {
    /// The tokenizer folder; nil for bytes.
    public let folder: String?
    private let tokenizer: (any Tokenizer)?

    public static let bytePadding = 256

    public init(folder: String?) throws {
        self.folder = folder
        if let folder {
            do {
                tokenizer = try loadTokenizer(folder: URL(fileURLWithPath: folder))
            } catch {
                throw RunError("cannot load a tokenizer from \(folder): \(error)")
            }
        } else {
            tokenizer = nil
        }
    }

    /// The tokenizer of a trained model's input, whose ids must all be below the model's
    /// `vocabularySize` (the folder may have changed since the model was trained).
    public init(folder: String?, fitting vocabularySize: Int) throws {
        try self.init(folder: folder)
        guard self.vocabularySize <= vocabularySize else {
            throw RunError("\(description) gives ids up to \(self.vocabularySize - 1), but the model's vocabulary has \(vocabularySize) "
                               + "(ids 0..<\(vocabularySize)): was the tokenizer changed since the model was trained?")
        }
    }

    public var vocabularySize: Int { tokenizer?.vocabularySize ?? 257 }
    public var paddingID: Int { tokenizer?.paddingID ?? Self.bytePadding }
    public var description: String { folder.map { "the tokenizer in \($0)" } ?? "UTF-8 bytes" }

    /// The ids of `text` (with the tokenizer's special tokens when `specialTokens`), at most
    /// `maxLength` of them when given.
    public func encode(_ text: String, maxLength: Int?, specialTokens: Bool = true) -> [Int] {
        if let tokenizer { return tokenizer.encode(text, pair: nil, addSpecialTokens: specialTokens, maxLength: maxLength).ids }
        let bytes = Array(text.utf8).map(Int.init)
        return maxLength.map { Array(bytes.prefix($0)) } ?? bytes
    }

    /// Text from ids; bytes that do not form valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        if let tokenizer { return tokenizer.decode(ids, skipSpecialTokens: true) }
        return String(decoding: ids.filter { $0 < 256 }.map(UInt8.init), as: UTF8.self)
    }
}
