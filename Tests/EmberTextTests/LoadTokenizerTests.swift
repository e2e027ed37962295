import EmberIO
import EmberText
import Foundation
import XCTest

/// `loadTokenizer(folder:)`: which file it reads, what tokenizer_config.json changes, and the
/// errors for missing, malformed or unsupported files, each naming the file and the problem.
final class LoadTokenizerTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-load-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: folder)
    }

    private func copy(_ name: String, from fixture: String, as target: String? = nil) throws {
        try FileManager.default.copyItem(at: TokenizerFixtures.folder(fixture).appendingPathComponent(name),
                                         to: folder.appendingPathComponent(target ?? name))
    }

    private func write(_ text: String, to name: String) throws {
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    private func assertLoadError(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try loadTokenizer(folder: folder), file: file, line: line) { error in
            XCTAssertTrue(error is FileError, "\(type(of: error))", file: file, line: line)
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    func testPrefersTokenizerJSON() throws {
        for name in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] { try copy(name, from: "wordpiece-cased") }
        let tokenizer = try XCTUnwrap(try loadTokenizer(folder: folder) as? WordPieceTokenizer)
        XCTAssertEqual(tokenizer.modelMaxLength, 64)
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-cased"))
    }

    /// vocab.txt with do_lower_case false from tokenizer_config.json gives the cased tokenizer.
    func testVocabularyWithConfig() throws {
        try copy("vocab.txt", from: "wordpiece-cased")
        try copy("tokenizer_config.json", from: "wordpiece-cased")
        let tokenizer = try XCTUnwrap(try loadTokenizer(folder: folder) as? WordPieceTokenizer)
        XCTAssertEqual(tokenizer.modelMaxLength, 64)
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-cased"))
    }

    func testVocabularyWithoutConfigIsUncasedBERT() throws {
        try copy("vocab.txt", from: "wordpiece-uncased")
        let tokenizer = try XCTUnwrap(try loadTokenizer(folder: folder) as? WordPieceTokenizer)
        XCTAssertNil(tokenizer.modelMaxLength)
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("wordpiece-uncased"))
    }

    func testBPEFromTokenizerJSONWithConfig() throws {
        try copy("tokenizer.json", from: "bpe-template")
        try copy("tokenizer_config.json", from: "bpe-template")
        let tokenizer = try XCTUnwrap(try loadTokenizer(folder: folder) as? ByteLevelBPETokenizer)
        XCTAssertEqual(tokenizer.modelMaxLength, 1024)
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("bpe-template"))
    }

    func testBPEFromVocabularyAndMerges() throws {
        try copy("vocab.json", from: "bpe")
        try copy("merges.txt", from: "bpe")
        try write(#"{"model_max_length": 1000000000000000019884624838656, "add_prefix_space": false, "eos_token": {"content": "<|endoftext|>", "special": true}}"#,
                  to: "tokenizer_config.json")
        let tokenizer = try XCTUnwrap(try loadTokenizer(folder: folder) as? ByteLevelBPETokenizer)
        XCTAssertNil(tokenizer.modelMaxLength, "transformers' 1e30 means no limit")
        assertMatchesReference(tokenizer, try TokenizerFixtures.expected("bpe"))
    }

    func testMissingFiles() {
        assertLoadError("tokenizer \(folder.path): no tokenizer.json, vocab.txt, or vocab.json with merges.txt")
        XCTAssertThrowsError(try loadTokenizer(folder: folder.appendingPathComponent("absent")))
    }

    func testMalformedJSON() throws {
        try write(#"{"model": {"type": "WordPiece", "vocab": {"a": 0,}}}"#, to: "tokenizer.json")
        let path = folder.appendingPathComponent("tokenizer.json").path
        assertLoadError("tokenizer \(path): not valid JSON: unexpected '}' where a key should start at byte 49")
        try write(#"{"model": {"type": "WordPiece", "vocab": ["a"]}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), model.vocab: should be an object, found an array")
        try write(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": -1}}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), model.vocab.[UNK]: should be a token id (0 to 2^31 - 1), found -1")
        try write(#"{"version": "1.0"}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), model: missing")
        try write("{}", to: "tokenizer_config.json")
        try write("[1, 2", to: "tokenizer_config.json")
        assertLoadError("tokenizer \(folder.appendingPathComponent("tokenizer_config.json").path): not valid JSON: unexpected end of input where ',' or ']' should follow an array element at byte 5")
    }

    func testUnknownModelType() throws {
        try write(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(folder.appendingPathComponent("tokenizer.json").path), model: has type Unigram, which is not supported (supported: WordPiece, BPE)")
    }

    func testMissingUnknownToken() throws {
        try write(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "a": 1}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#,
                  to: "tokenizer.json")
        assertLoadError("tokenizer \(folder.appendingPathComponent("tokenizer.json").path): the unknown token [UNK] is not in the vocabulary")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer.json"))
        try write("[PAD]\n[CLS]\n[SEP]\n", to: "vocab.txt")
        assertLoadError("tokenizer \(folder.appendingPathComponent("vocab.txt").path): the unknown token [UNK] is not in the vocabulary")
    }

    /// An id the template or the padding adds must be a token: a copied folder with an edited
    /// `[CLS]` id would otherwise feed a model ids past its embeddings.
    func testSpecialTokenIDsMustBeTokens() throws {
        let path = folder.appendingPathComponent("tokenizer.json").path
        let model = #""model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[PAD]": 1, "[CLS]": 2, "[SEP]": 3, "hi": 4}}, "pre_tokenizer": {"type": "BertPreTokenizer"}"#
        func template(cls: Int) -> String {
            #"{\#(model), "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [\#(cls)], "tokens": ["[CLS]"]}}}}"#
        }
        try write(template(cls: 30600), to: "tokenizer.json")
        assertLoadError("tokenizer \(path), post_processor.special_tokens.[CLS].ids[0]: is 30600, which is not the id of a token of the vocabulary or the added tokens")
        try write(#"{\#(model), "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 100000], "sep": ["[SEP]", 3]}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), post_processor.cls[1]: is 100000, which is not the id of a token of the vocabulary or the added tokens")
        try write(#"{\#(model), "padding": {"pad_id": 7}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), padding.pad_id: is 7, which is not the id of a token of the vocabulary or the added tokens")
        try write(template(cls: 2), to: "tokenizer.json")
        let tokenizer = try loadTokenizer(folder: folder)
        XCTAssertEqual(tokenizer.encode("hi").ids, [2, 4])
        XCTAssertEqual(tokenizer.vocabularySize, 5)
    }

    /// The vocabulary size is what an embedding of the ids needs: one more than the largest id,
    /// even when the file's ids leave gaps.
    func testVocabularySizeCoversTheLargestID() throws {
        try write(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[PAD]": 1, "far": 40}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#,
                  to: "tokenizer.json")
        let tokenizer = try loadTokenizer(folder: folder)
        XCTAssertEqual(tokenizer.encode("far", addSpecialTokens: false).ids, [40])
        XCTAssertEqual(tokenizer.vocabularySize, 41)
    }

    func testUnsupportedComponents() throws {
        let path = folder.appendingPathComponent("tokenizer.json").path
        let model = #""model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[PAD]": 1}}"#
        try write(#"{\#(model), "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), normalizer: has type NFKC, which is not supported (supported: BertNormalizer)")
        try write(#"{\#(model), "pre_tokenizer": {"type": "Metaspace"}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), pre_tokenizer: has type Metaspace, which is not supported (supported: BertPreTokenizer)")
        try write(#"{\#(model), "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": {"type": "RobertaProcessing"}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), post_processor: has type RobertaProcessing, which is not supported (supported: TemplateProcessing, BertProcessing, ByteLevel, Sequence)")
        try write(#"{\#(model), "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}], "pair": [], "special_tokens": {}}}"#,
                  to: "tokenizer.json")
        assertLoadError("tokenizer \(path), post_processor.single[0].SpecialToken: names [CLS], which is not among special_tokens")
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path), model: uses byte_fallback, which byte-level BPE does not (supported: byte-level BPE)")
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path): has no padding settings and no <|endoftext|> token: give the token to pad with")
        try write(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}}"#, to: "tokenizer.json")
        assertLoadError("tokenizer \(path): merge 1 (a b) needs b, which is not in the vocabulary")
    }

    /// A tokenizer.json vocabulary keeps "é" (U+00E9) and "e\u{301}" apart, as Hugging Face does;
    /// Foundation's JSON decoders would merge them.
    func testJSONVocabularyKeepsCanonicallyEquivalentTokensApart() throws {
        try write(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[PAD]": 1, "\u00e9": 2, "e\u0301": 3}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"#,
                  to: "tokenizer.json")
        let tokenizer = try loadTokenizer(folder: folder)
        XCTAssertEqual(tokenizer.vocabularySize, 4)
        XCTAssertEqual(tokenizer.id(of: "\u{E9}"), 2)
        XCTAssertEqual(tokenizer.id(of: "e\u{301}"), 3)
        XCTAssertEqual(tokenizer.encode("\u{E9} e\u{301}").ids, [2, 3])
    }
}
