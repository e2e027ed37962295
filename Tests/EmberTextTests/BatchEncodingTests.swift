import Ember
import EmberText
import XCTest

/// `encode(batch:)`'s truncation and padding, on a tokenizer that splits on spaces.
final class BatchEncodingTests: XCTestCase {
    struct SpaceTokenizer: Tokenizer {
        let words = ["[PAD]", "[CLS]", "[SEP]", "a", "b", "c"]
        var vocabularySize: Int { words.count }
        var paddingID: Int { 0 }
        func tokenize(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }
        func encode(_ text: String, pair: String?, addSpecialTokens: Bool, maxLength: Int?) -> Encoding {
            var tokens = tokenize(text)
            if let maxLength { tokens = Array(tokens.prefix(maxLength - (addSpecialTokens ? 2 : 0))) }
            if addSpecialTokens { tokens = ["[CLS]"] + tokens + ["[SEP]"] }
            return Encoding(ids: tokens.map { id(of: $0)! }, tokens: tokens, typeIds: tokens.map { _ in 0 },
                            attentionMask: tokens.map { _ in 1 })
        }
        func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { ids.map { words[$0] }.joined(separator: " ") }
        func id(of token: String) -> Int? { words.firstIndex(of: token) }
        func token(of id: Int) -> String? { words.indices.contains(id) ? words[id] : nil }
    }

    func testLongestPadsOnTheRightWithMaskZero() {
        let batch = SpaceTokenizer().encode(batch: ["a b c", "a"])
        XCTAssertEqual(batch.inputIDs, [[1, 3, 4, 5, 2], [1, 3, 2, 0, 0]])
        XCTAssertEqual(batch.attentionMask, [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        XCTAssertEqual(batch.encodings[1].tokens.suffix(2), ["[PAD]", "[PAD]"])
        let tensors = batch.tensors()
        XCTAssertEqual(tensors.inputIDs.shape, [2, 5])
        XCTAssertEqual(tensors.inputIDs.dtype, .int64)
    }

    func testMaxLengthTruncatesAndPads() {
        let batch = SpaceTokenizer().encode(batch: ["a b c", "a"], padding: .maxLength(4))
        XCTAssertEqual(batch.inputIDs, [[1, 3, 4, 2], [1, 3, 2, 0]])
    }

    func testNoPaddingKeepsLengths() {
        let batch = SpaceTokenizer().encode(batch: ["a b c", "a"], padding: .none, maxLength: 3)
        XCTAssertEqual(batch.inputIDs, [[1, 3, 2], [1, 3, 2]])
    }
}
