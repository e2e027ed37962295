@testable import EmberText
import Foundation
import XCTest

/// Every Unicode scalar classified as Hugging Face's tokenizers classify it (probed one by one
/// by the generator: Expected/hf-unicode-classes.json), and random strings split as their
/// pre-tokenizers split them (Expected/pre-tokenizer-fuzz.json).
final class CharacterClassesTests: XCTestCase {
    struct Classes: Decodable {
        let bert_punctuation: [[UInt32]]
        let bert_whitespace: [[UInt32]]
        let bert_removed: [[UInt32]]
        let bert_to_space: [[UInt32]]
        let bert_chinese: [[UInt32]]
        let stripped_to_nothing: [[UInt32]]
        let gpt2_letter: [[UInt32]]
        let gpt2_number: [[UInt32]]
        let gpt2_whitespace: [[UInt32]]
        let stripped: [Mapping]
        let lowercased: [Mapping]
    }

    /// [code point, text].
    struct Mapping: Decodable {
        let scalar: UInt32
        let text: String
        init(from decoder: Decoder) throws {
            var container = try decoder.unkeyedContainer()
            scalar = try container.decode(UInt32.self)
            text = try container.decode(String.self)
        }
    }

    struct FuzzCase: Decodable {
        let text: String
        let gpt2: [String]
        let bert_uncased: [String]
        let bert_cased: [String]
    }

    private static let allScalars: [Unicode.Scalar] = (0..<0x110000).compactMap(Unicode.Scalar.init)

    private func classes() throws -> Classes {
        let url = try TokenizerFixtures.root().appendingPathComponent("Expected/hf-unicode-classes.json")
        return try JSONDecoder().decode(Classes.self, from: Data(contentsOf: url))
    }

    private func members(_ ranges: [[UInt32]]) -> Set<UInt32> {
        Set(ranges.flatMap { $0[0]...$0[1] })
    }

    /// The scalars where `classify` disagrees with the probed class, listed in hex.
    private func disagreements(_ ranges: [[UInt32]], _ classify: (Unicode.Scalar) -> Bool) -> [String] {
        let expected = members(ranges)
        return Self.allScalars.filter { classify($0) != expected.contains($0.value) }.prefix(20).map { String($0.value, radix: 16) }
    }

    func testBertClasses() throws {
        let classes = try classes()
        XCTAssertEqual(disagreements(classes.bert_punctuation, CharacterClasses.isBertPunctuation), [])
        XCTAssertEqual(disagreements(classes.bert_whitespace, CharacterClasses.isWhitespace), [])
        XCTAssertEqual(disagreements(classes.bert_chinese, CharacterClasses.isChineseCharacter), [])
        XCTAssertEqual(disagreements(classes.bert_removed) { $0.value == 0 || $0.value == 0xFFFD || CharacterClasses.isBertControl($0) }, [])
        let removed = members(classes.bert_removed)
        XCTAssertEqual(disagreements(classes.bert_to_space) { $0 != " " && CharacterClasses.isWhitespace($0) && !removed.contains($0.value) }, [])
    }

    func testGPT2Classes() throws {
        let classes = try classes()
        XCTAssertEqual(disagreements(classes.gpt2_letter, CharacterClasses.isLetter), [])
        XCTAssertEqual(disagreements(classes.gpt2_number, CharacterClasses.isNumber), [])
        XCTAssertEqual(disagreements(classes.gpt2_whitespace, CharacterClasses.isWhitespace), [])
    }

    /// Each scalar through one normalizer step alone: the scalars are normalized in long runs
    /// separated by spaces (a space stops NFD's reordering and no decomposition holds one).
    private func normalizedOneByOne(_ normalizer: BertNormalizer) -> [UInt32: [UInt32]] {
        var changed = [UInt32: [UInt32]]()
        let chunk = 8192
        for start in stride(from: 0, to: Self.allScalars.count, by: chunk) {
            let scalars = Self.allScalars[start..<min(start + chunk, Self.allScalars.count)].filter { $0 != " " }
            let joined = Array(scalars.map { [$0] }.joined(separator: [" "]))
            let pieces = normalizer.normalize(joined).split(separator: " ", omittingEmptySubsequences: false)
            XCTAssertEqual(pieces.count, scalars.count)
            for (scalar, piece) in zip(scalars, pieces) where Array(piece) != [scalar] {
                changed[scalar.value] = piece.map(\.value)
            }
        }
        return changed
    }

    func testAccentStrippingOfEveryScalar() throws {
        let classes = try classes()
        var expected = [UInt32: [UInt32]]()
        for scalar in members(classes.stripped_to_nothing) { expected[scalar] = [] }
        for mapping in classes.stripped { expected[mapping.scalar] = exact(mapping.text) }
        let found = normalizedOneByOne(BertNormalizer(cleanText: false, handleChineseCharacters: false, stripAccents: true, lowercase: false))
        XCTAssertEqual(found.count, expected.count)
        let wrong = found.filter { expected[$0.key] != $0.value }.keys.sorted().prefix(20)
        let missing = expected.keys.filter { found[$0] == nil }.sorted().prefix(20)
        XCTAssertEqual(wrong.map { String($0, radix: 16) }, [])
        XCTAssertEqual(missing.map { String($0, radix: 16) }, [])
    }

    func testLowercasingOfEveryScalar() throws {
        let expected = Dictionary(uniqueKeysWithValues: try classes().lowercased.map { ($0.scalar, exact($0.text)) })
        let found = normalizedOneByOne(BertNormalizer(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: true))
        XCTAssertEqual(found.keys.sorted().map { String($0, radix: 16) }, expected.keys.sorted().map { String($0, radix: 16) })
        XCTAssertEqual(found.filter { expected[$0.key] != $0.value }.keys.sorted().prefix(20).map { String($0, radix: 16) }, [])
    }

    func testPreTokenizersSplitRandomStringsAsHuggingFace() throws {
        let url = try TokenizerFixtures.root().appendingPathComponent("Expected/pre-tokenizer-fuzz.json")
        let cases = try JSONDecoder().decode([FuzzCase].self, from: Data(contentsOf: url))
        XCTAssertEqual(cases.count, 300)
        func text(_ scalars: some Sequence<Unicode.Scalar>) -> [UInt32] { scalars.map(\.value) }
        for fuzz in cases {
            let scalars = Array(fuzz.text.unicodeScalars)
            XCTAssertEqual(ByteLevel.split(scalars).map { text(scalars[$0]) }, exact(fuzz.gpt2), "GPT-2 pieces of \(fuzz.text.debugDescription)")
            XCTAssertEqual(BertPreTokenizer.words(BertNormalizer().normalize(scalars)).map(text), exact(fuzz.bert_uncased),
                           "uncased BERT words of \(fuzz.text.debugDescription)")
            XCTAssertEqual(BertPreTokenizer.words(BertNormalizer(stripAccents: false, lowercase: false).normalize(scalars)).map(text),
                           exact(fuzz.bert_cased), "cased BERT words of \(fuzz.text.debugDescription)")
        }
    }

    func testByteLevelAlphabet() {
        XCTAssertEqual(Set(ByteLevel.characters).count, 256)
        XCTAssertEqual(ByteLevel.characters[0x20], "Ġ")
        XCTAssertEqual(ByteLevel.characters[0x0A], "Ċ")
        XCTAssertEqual(ByteLevel.characters[0x41], "A")
        XCTAssertEqual(ByteLevel.string("é".utf8), "Ã©")
    }
}
