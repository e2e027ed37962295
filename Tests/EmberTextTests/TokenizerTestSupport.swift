import EmberText
import Foundation
import XCTest

/// The fixtures of Fixtures/generate_tokenizer_fixtures.py: trained tokenizer files under
/// Tokenizers/, and what Hugging Face's tokenizers give under Expected/.
enum TokenizerFixtures {
    static func root() throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw XCTSkip("the Fixtures folder is missing from the test bundle")
        }
        return url
    }

    /// Tokenizers/<name>: a Hugging Face style tokenizer folder.
    static func folder(_ name: String) throws -> URL {
        try root().appendingPathComponent("Tokenizers").appendingPathComponent(name)
    }

    static func expected(_ name: String) throws -> ExpectedTokenization {
        let url = try root().appendingPathComponent("Expected").appendingPathComponent("\(name).json")
        return try JSONDecoder().decode(ExpectedTokenization.self, from: Data(contentsOf: url))
    }

    /// A real model's tokenizer folder: `environment`, else ${XDG_CACHE_HOME:-~/.cache}/ember/`cacheName`.
    /// Skips the test, saying how to get the folder, when it is absent.
    static func realModelFolder(environment: String, cacheName: String, needs files: [String], howToGet: String) throws -> URL {
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let candidates = [ProcessInfo.processInfo.environment[environment].map { URL(fileURLWithPath: $0) },
                          cache.appendingPathComponent("ember").appendingPathComponent(cacheName)].compactMap { $0 }
        for folder in candidates where files.allSatisfy({ FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }) {
            return folder
        }
        throw XCTSkip("\(cacheName) is not here (looked in \(candidates.map(\.path).joined(separator: ", "))): \(howToGet)")
    }
}

/// Expected/<name>.json: Hugging Face's output for the test set.
struct ExpectedTokenization: Decodable {
    struct Text: Decodable {
        let text: String
        let ids: [Int]
        let tokens: [String]
        let type_ids: [Int]
        let attention_mask: [Int]
        let ids_plain: [Int]
        let tokens_plain: [String]
        let decoded: String
        let decoded_with_special: String
    }
    struct Pair: Decodable {
        struct Truncated: Decodable {
            let max_length: Int
            let ids: [Int]
            let type_ids: [Int]
        }
        let text: String
        let pair: String
        let ids: [Int]
        let tokens: [String]
        let type_ids: [Int]
        let attention_mask: [Int]
        let ids_plain: [Int]
        let type_ids_plain: [Int]
        let truncated: [Truncated]
    }
    struct Truncated: Decodable {
        let text: String
        let max_length: Int
        let ids: [Int]
        let ids_plain: [Int]
    }
    struct Batch: Decodable {
        struct Row: Decodable {
            let ids: [Int]
            let tokens: [String]
            let type_ids: [Int]
            let attention_mask: [Int]
        }
        let texts: [String]
        let padding: String
        let max_length: Int?
        let encodings: [Row]
    }
    struct DecodePrefixes: Decodable {
        let ids: [Int]
        let decoded: [String]
    }

    let vocab_size: Int
    let padding_id: Int
    let model_max_length: Int?
    let texts: [Text]
    let pairs: [Pair]
    let truncated: [Truncated]
    let batches: [Batch]
    let decode_prefixes: [DecodePrefixes]
}

/// Checks a tokenizer against everything Hugging Face's gave: texts with and without special
/// tokens, pairs, truncation, padded batches and decoding.
func assertMatchesReference(_ tokenizer: any Tokenizer, _ expected: ExpectedTokenization,
                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(tokenizer.vocabularySize, expected.vocab_size, "vocabulary size", file: file, line: line)
    XCTAssertEqual(tokenizer.paddingID, expected.padding_id, "padding id", file: file, line: line)
    for entry in expected.texts {
        let label = "text \(entry.text.debugDescription)"
        let encoding = tokenizer.encode(entry.text)
        XCTAssertEqual(encoding.ids, entry.ids, label, file: file, line: line)
        XCTAssertEqual(exact(encoding.tokens), exact(entry.tokens), label, file: file, line: line)
        XCTAssertEqual(encoding.typeIds, entry.type_ids, label, file: file, line: line)
        XCTAssertEqual(encoding.attentionMask, entry.attention_mask, label, file: file, line: line)
        XCTAssertEqual(tokenizer.encode(entry.text, addSpecialTokens: false).ids, entry.ids_plain, "\(label) without special tokens", file: file, line: line)
        XCTAssertEqual(exact(tokenizer.tokenize(entry.text)), exact(entry.tokens_plain), label, file: file, line: line)
        XCTAssertEqual(exact(tokenizer.decode(entry.ids)), exact(entry.decoded), "decoding \(label): \(tokenizer.decode(entry.ids).debugDescription)", file: file, line: line)
        XCTAssertEqual(exact(tokenizer.decode(entry.ids, skipSpecialTokens: false)), exact(entry.decoded_with_special),
                       "decoding \(label) with special tokens", file: file, line: line)
    }
    for entry in expected.pairs {
        let label = "pair \(entry.text.debugDescription), \(entry.pair.debugDescription)"
        let encoding = tokenizer.encode(entry.text, pair: entry.pair)
        XCTAssertEqual(encoding.ids, entry.ids, label, file: file, line: line)
        XCTAssertEqual(exact(encoding.tokens), exact(entry.tokens), label, file: file, line: line)
        XCTAssertEqual(encoding.typeIds, entry.type_ids, label, file: file, line: line)
        XCTAssertEqual(encoding.attentionMask, entry.attention_mask, label, file: file, line: line)
        let plain = tokenizer.encode(entry.text, pair: entry.pair, addSpecialTokens: false)
        XCTAssertEqual(plain.ids, entry.ids_plain, "\(label) without special tokens", file: file, line: line)
        XCTAssertEqual(plain.typeIds, entry.type_ids_plain, "\(label) without special tokens", file: file, line: line)
        for truncated in entry.truncated {
            let encoding = tokenizer.encode(entry.text, pair: entry.pair, maxLength: truncated.max_length)
            XCTAssertEqual(encoding.ids, truncated.ids, "\(label) truncated to \(truncated.max_length)", file: file, line: line)
            XCTAssertEqual(encoding.typeIds, truncated.type_ids, "\(label) truncated to \(truncated.max_length)", file: file, line: line)
        }
    }
    for entry in expected.truncated {
        let label = "\(entry.text.debugDescription) truncated to \(entry.max_length)"
        XCTAssertEqual(tokenizer.encode(entry.text, maxLength: entry.max_length).ids, entry.ids, label, file: file, line: line)
        XCTAssertEqual(tokenizer.encode(entry.text, addSpecialTokens: false, maxLength: entry.max_length).ids, entry.ids_plain,
                       "\(label) without special tokens", file: file, line: line)
    }
    for batch in expected.batches {
        let padding: Padding = batch.max_length.map { .maxLength($0) } ?? .longest
        let encoded = tokenizer.encode(batch: batch.texts, padding: padding)
        XCTAssertEqual(encoded.inputIDs, batch.encodings.map(\.ids), "batch padded to \(padding)", file: file, line: line)
        XCTAssertEqual(encoded.attentionMask, batch.encodings.map(\.attention_mask), "batch padded to \(padding)", file: file, line: line)
        XCTAssertEqual(encoded.tokenTypeIDs, batch.encodings.map(\.type_ids), "batch padded to \(padding)", file: file, line: line)
        XCTAssertEqual(encoded.encodings.map { exact($0.tokens) }, batch.encodings.map { exact($0.tokens) }, "batch padded to \(padding)", file: file, line: line)
    }
    for prefixes in expected.decode_prefixes {
        for (count, decoded) in prefixes.decoded.enumerated() {
            XCTAssertEqual(exact(tokenizer.decode(Array(prefixes.ids.prefix(count)))), exact(decoded), "decoding the first \(count) of \(prefixes.ids)", file: file, line: line)
        }
    }
}

/// A text's scalars, to compare texts exactly: `String ==` is canonical equivalence ("é" == "e\u{301}").
func exact(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

func exact(_ texts: [String]) -> [[UInt32]] { texts.map(exact) }
