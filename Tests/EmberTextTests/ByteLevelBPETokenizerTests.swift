import EmberText
import Foundation
import XCTest

/// A byte-level BPE trained with Hugging Face `tokenizers` (GPT-2's pre-tokenizer,
/// `<|endoftext|>`), read from tokenizer.json and from vocab.json + merges.txt, and a variant
/// with "a b" merges, add_prefix_space, a template and added tokens with lstrip / rstrip /
/// single_word; against Hugging Face's ids, tokens, pairs, truncations, batches and decodings.
final class ByteLevelBPETokenizerTests: XCTestCase {
    func testFromTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerFile: TokenizerFixtures.folder("bpe").appendingPathComponent("tokenizer.json"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("bpe"))
    }

    func testFromVocabularyAndMergesMatchesHuggingFace() throws {
        let folder = try TokenizerFixtures.folder("bpe")
        let tokenizer = try ByteLevelBPETokenizer(vocabularyFile: folder.appendingPathComponent("vocab.json"),
                                                  mergesFile: folder.appendingPathComponent("merges.txt"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("bpe"))
    }

    func testTemplateAndAddedTokensMatchHuggingFace() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerFile: TokenizerFixtures.folder("bpe-template").appendingPathComponent("tokenizer.json"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("bpe-template"))
    }

    /// Decoding what was encoded gives the text back, byte for byte.
    func testDecodingRestoresTheText() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerFile: TokenizerFixtures.folder("bpe").appendingPathComponent("tokenizer.json"))
        for entry in try TokenizerFixtures.expected("bpe").texts {
            XCTAssertEqual(Array(tokenizer.decode(tokenizer.encode(entry.text).ids, skipSpecialTokens: false).utf8), Array(entry.text.utf8),
                           entry.text.debugDescription)
        }
    }

    /// The word cache gives what the merges give: the second encoding of each text (from the
    /// cache) equals the first, and a fresh tokenizer agrees on a long text of repeated words.
    func testCachedWordsEncodeAsBefore() throws {
        let url = try TokenizerFixtures.folder("bpe").appendingPathComponent("tokenizer.json")
        let tokenizer = try ByteLevelBPETokenizer(tokenizerFile: url)
        let text = (0..<200).map { "word\($0 % 17) Straße中文 😀" }.joined(separator: " ")
        let first = tokenizer.encode(text).ids
        XCTAssertEqual(tokenizer.encode(text).ids, first)
        XCTAssertEqual(try ByteLevelBPETokenizer(tokenizerFile: url).encode(text).ids, first)
    }

    func testPaddingToken() throws {
        let folder = try TokenizerFixtures.folder("bpe")
        let byEndOfText = try ByteLevelBPETokenizer(tokenizerFile: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(byEndOfText.paddingID, byEndOfText.id(of: "<|endoftext|>"))
        let byToken = try ByteLevelBPETokenizer(tokenizerFile: folder.appendingPathComponent("tokenizer.json"), paddingToken: "!")
        XCTAssertEqual(byToken.paddingID, byToken.id(of: "!"))
        XCTAssertThrowsError(try ByteLevelBPETokenizer(tokenizerFile: folder.appendingPathComponent("tokenizer.json"), paddingToken: "<pad>")) { error in
            XCTAssertEqual("\(error)", "tokenizer \(folder.appendingPathComponent("tokenizer.json").path): has no <pad> token to pad with")
        }
    }

    func testBadMergesAreErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-bpe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let vocab = folder.appendingPathComponent("vocab.json")
        let merges = folder.appendingPathComponent("merges.txt")
        try #"{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}"#.write(to: vocab, atomically: true, encoding: .utf8)
        try "#version: 0.2\na b\nab\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ByteLevelBPETokenizer(vocabularyFile: vocab, mergesFile: merges)) { error in
            XCTAssertEqual("\(error)", "tokenizer \(merges.path): line 3 should be two tokens separated by a space")
        }
        try "#version: 0.2\na b\nab c\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ByteLevelBPETokenizer(vocabularyFile: vocab, mergesFile: merges)) { error in
            XCTAssertEqual("\(error)", "tokenizer \(merges.path): merge 2 (ab c) needs c, which is not in the vocabulary")
        }
        try "#version: 0.2\na b\n".write(to: merges, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ByteLevelBPETokenizer(vocabularyFile: vocab, mergesFile: merges).encode("ab").ids, [2])
        XCTAssertThrowsError(try ByteLevelBPETokenizer(vocabularyFile: vocab, mergesFile: merges, endOfTextToken: "</s>")) { error in
            XCTAssertEqual("\(error)", "tokenizer \(vocab.path): the vocabulary has no </s> token")
        }
    }
}
