import EmberText
import Foundation
import XCTest

/// WordPiece tokenizers trained with Hugging Face `tokenizers` (uncased: lower case and accents
/// stripped; cased: neither), read from tokenizer.json and from vocab.txt, against the ids,
/// tokens, pairs, truncations, batches and decodings Hugging Face gives (Expected/*.json).
final class WordPieceTokenizerTests: XCTestCase {
    func testUncasedFromTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try WordPieceTokenizer(tokenizerFile: TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("tokenizer.json"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-uncased"))
    }

    func testUncasedFromVocabularyMatchesHuggingFace() throws {
        let tokenizer = try WordPieceTokenizer(vocabularyFile: TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("vocab.txt"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-uncased"))
    }

    func testCasedFromTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try WordPieceTokenizer(tokenizerFile: TokenizerFixtures.folder("wordpiece-cased").appendingPathComponent("tokenizer.json"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-cased"))
    }

    func testCasedFromVocabularyMatchesHuggingFace() throws {
        let tokenizer = try WordPieceTokenizer(vocabularyFile: TokenizerFixtures.folder("wordpiece-cased").appendingPathComponent("vocab.txt"),
                                               lowercase: false)
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-cased"))
    }

    /// The cased tokenizer.json records truncation to 64 (BertProcessing, padding settings too).
    func testModelMaxLengthComesFromTruncationSettings() throws {
        let url = try TokenizerFixtures.folder("wordpiece-cased").appendingPathComponent("tokenizer.json")
        XCTAssertEqual(try WordPieceTokenizer(tokenizerFile: url).modelMaxLength, 64)
        XCTAssertEqual(try WordPieceTokenizer(tokenizerFile: url, modelMaxLength: 32).modelMaxLength, 32)
        let uncased = try TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("tokenizer.json")
        XCTAssertNil(try WordPieceTokenizer(tokenizerFile: uncased).modelMaxLength)
        // encode truncates only when asked.
        let long = String(repeating: "word ", count: 100)
        XCTAssertGreaterThan(try WordPieceTokenizer(tokenizerFile: url).encode(long).ids.count, 64)
    }

    func testWordsLongerThanTheLimitAreUnknown() throws {
        let tokenizer = try WordPieceTokenizer(vocabularyFile: TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("vocab.txt"))
        XCTAssertEqual(tokenizer.tokenize(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertNotEqual(tokenizer.tokenize(String(repeating: "a", count: 100)), ["[UNK]"])
    }

    /// With accent stripping off, accented words keep their accents (and so other tokens).
    func testAccentStrippingOption() throws {
        let vocab = try TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("vocab.txt")
        let stripped = try WordPieceTokenizer(vocabularyFile: vocab)
        let kept = try WordPieceTokenizer(vocabularyFile: vocab, stripAccents: false)
        XCTAssertEqual(stripped.decode(stripped.encode("Café Noël").ids), "cafe noel")
        XCTAssertNotEqual(kept.encode("Café Noël").ids, stripped.encode("Café Noël").ids)
        XCTAssertEqual(stripped.encode("cafe").ids, stripped.encode("CAFÉ").ids)
    }

    /// Without splitting, "中文" is one word, and the vocabulary has no "##文" (Hugging Face: [UNK]).
    func testChineseCharactersOption() throws {
        let vocab = try TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("vocab.txt")
        let split = try WordPieceTokenizer(vocabularyFile: vocab)
        let whole = try WordPieceTokenizer(vocabularyFile: vocab, tokenizeChineseChars: false)
        XCTAssertEqual(split.tokenize("中文"), ["中", "文"])
        XCTAssertEqual(whole.tokenize("中文"), ["[UNK]"])
    }

    func testIDsAndTokensRoundTrip() throws {
        let tokenizer = try WordPieceTokenizer(vocabularyFile: TokenizerFixtures.folder("wordpiece-uncased").appendingPathComponent("vocab.txt"))
        for id in 0..<tokenizer.vocabularySize {
            guard let token = tokenizer.token(of: id) else { return XCTFail("no token for id \(id)") }
            XCTAssertEqual(tokenizer.id(of: token), id, token)
        }
        XCTAssertNil(tokenizer.token(of: tokenizer.vocabularySize))
        XCTAssertNil(tokenizer.id(of: "no such token"))
        XCTAssertEqual(tokenizer.decode([tokenizer.vocabularySize + 5, 999_999]), "", "unknown ids are skipped")
    }

    /// vocab.txt is read byte for byte: "é" and "e\u{301}" are two tokens, as in Hugging Face.
    func testCanonicallyEquivalentTokensStayApart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-wordpiece-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let vocab = folder.appendingPathComponent("vocab.txt")
        try ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u{E9}", "e\u{301}"].joined(separator: "\n").write(to: vocab, atomically: true, encoding: .utf8)
        let tokenizer = try WordPieceTokenizer(vocabularyFile: vocab, lowercase: false)
        XCTAssertEqual(tokenizer.id(of: "\u{E9}"), 4)
        XCTAssertEqual(tokenizer.id(of: "e\u{301}"), 5)
        XCTAssertEqual(tokenizer.encode("\u{E9} e\u{301}", addSpecialTokens: false).ids, [4, 5])
    }

    func testMissingSpecialTokensAreErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-wordpiece-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let vocab = folder.appendingPathComponent("vocab.txt")
        try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(to: vocab, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: vocab)) { error in
            XCTAssertEqual("\(error)", "tokenizer \(vocab.path): the unknown token [UNK] is not in the vocabulary")
        }
        try "[PAD]\n[UNK]\n[SEP]\nhello\n".write(to: vocab, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: vocab)) { error in
            XCTAssertEqual("\(error)", "tokenizer \(vocab.path): the vocabulary has no [CLS] token")
        }
        XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: folder.appendingPathComponent("absent.txt"))) { error in
            XCTAssertEqual("\(error)", "tokenizer \(folder.appendingPathComponent("absent.txt").path): no such file")
        }
    }
}
