import Foundation

/// A JSON value as a tokenizer file holds it. Object keys stay exactly as written: Foundation's
/// decoders key objects by `String`, whose equality is canonical equivalence, so they would merge
/// vocabulary entries such as "é" (U+00E9) and "e\u{301}" that Hugging Face keeps apart.
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// What kind of value this is, for error messages.
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// A strict RFC 8259 reader over UTF-8 bytes; errors name the byte offset.
struct JSONReader {
    static let maxDepth = 128

    private let bytes: [UInt8]
    private var position = 0

    /// The value in `bytes`; the error says why they are not JSON.
    static func parse(_ bytes: [UInt8]) throws(TokenizerError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 1)
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw reader.failure("unexpected text after the end of the value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func value(depth: Int) throws(TokenizerError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw failure("values nested more than \(Self.maxDepth) levels deep") }
        guard position < bytes.count else { throw failure("unexpected end of input where a value should be") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character where a value should start")
        }
    }

    private mutating func object(depth: Int) throws(TokenizerError) -> JSONValue {
        position += 1
        var members = [(key: String, value: JSONValue)]()
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(members) }
        while true {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key") }
            let key = try string()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { skipWhitespace(); continue }
            if consume(UInt8(ascii: "}")) { return .object(members) }
            throw failure("expected ',' or '}' after an object member")
        }
    }

    private mutating func array(depth: Int) throws(TokenizerError) -> JSONValue {
        position += 1
        var elements = [JSONValue]()
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { skipWhitespace(); continue }
            if consume(UInt8(ascii: "]")) { return .array(elements) }
            throw failure("expected ',' or ']' after an array element")
        }
    }

    private mutating func string() throws(TokenizerError) -> String {
        position += 1
        let start = position
        // Most strings have no escapes: they are sliced out whole.
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\"), bytes[position] >= 0x20 {
            position += 1
        }
        var utf8 = Array(bytes[start..<position])
        while true {
            guard position < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                try escape(into: &utf8)
            case 0..<0x20:
                throw failure("a control character inside a string is not escaped")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    /// One escape after the backslash; a \u escape may pair with the next into one scalar.
    private mutating func escape(into utf8: inout [UInt8]) throws(TokenizerError) {
        guard position < bytes.count else { throw failure("unterminated string") }
        let simple: UInt8? = switch bytes[position] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes[position]
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
        if let simple {
            utf8.append(simple)
            position += 1
            return
        }
        guard bytes[position] == UInt8(ascii: "u") else { throw failure("unknown escape in a string") }
        position += 1
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw failure("a \\u escape holds an unpaired surrogate")
            }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("a \\u escape holds an unpaired surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw failure("a \\u escape holds an unpaired surrogate") }
        utf8.append(contentsOf: String(scalar).utf8)
    }

    private mutating func hex4() throws(TokenizerError) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = Character(Unicode.Scalar(bytes[position])).hexDigitValue else {
                throw failure("a \\u escape needs four hexadecimal digits")
            }
            code = code << 4 | UInt32(digit)
            position += 1
        }
        return code
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws(TokenizerError) -> Double {
        let start = position
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            if position < bytes.count, isDigit(bytes[position]) { throw failure("a number has a leading zero") }
        } else if digits() == 0 {
            throw failure("expected a digit after '-'")
        }
        if consume(UInt8(ascii: ".")), digits() == 0 { throw failure("expected a digit after '.'") }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            if digits() == 0 { throw failure("expected an exponent's digits") }
        }
        guard let number = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
            throw failure("a number cannot be read")
        }
        return number
    }

    private mutating func digits() -> Int {
        let start = position
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        return position - start
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func literal(_ word: String) throws(TokenizerError) {
        for expected in word.utf8 {
            guard position < bytes.count, bytes[position] == expected else { throw failure("expected '\(word)'") }
            position += 1
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func failure(_ message: String) -> TokenizerError {
        TokenizerError("\(message) at byte \(position)")
    }
}
