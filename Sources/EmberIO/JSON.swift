/// A JSON value. Numbers keep their source text so that integers are read exactly (byte
/// offsets beyond 2^53 must not round through Double); objects keep their members in order,
/// with their keys exactly as written. Shared with the tokenizer files' reader (EmberText).
package enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// What kind of value this is, for error messages.
    package var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// Why a text is not JSON, with the byte position where reading stopped.
package struct JSONError: Error {
    package let message: String
}

/// A strict RFC 8259 parser over UTF-8 bytes, for untrusted files. Nesting is limited, as in
/// serde_json, so that hostile input cannot exhaust the stack.
package struct JSONParser {
    /// What a key given twice in one object is.
    package enum DuplicateKeys {
        /// An error: which of two entries is meant would be ambiguous (file headers).
        case rejected
        /// Kept as written. Swift compares strings by canonical equivalence, so keys that differ
        /// byte for byte (a tokenizer's "é" and "e\u{301}") would count as repeats.
        case kept
    }

    static let maxDepth = 128

    private let bytes: [UInt8]
    private let duplicateKeys: DuplicateKeys
    private var position = 0

    package static func parse(_ bytes: [UInt8], duplicateKeys: DuplicateKeys = .rejected) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, duplicateKeys: duplicateKeys)
        parser.skipWhitespace()
        let value = try parser.value(depth: 1)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.unexpected("after the end of the value") }
        return value
    }

    private init(bytes: [UInt8], duplicateKeys: DuplicateKeys) {
        self.bytes = bytes
        self.duplicateKeys = duplicateKeys
    }

    private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw failure("values nested more than \(Self.maxDepth) levels deep") }
        guard position < bytes.count else { throw failure("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw unexpected("where a value should start")
        }
    }

    private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        position += 1
        var members = [(key: String, value: JSONValue)]()
        var seen = Set<String>()
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(members) }
        while true {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw unexpected("where a key should start") }
            let keyStart = position
            let key = try string()
            guard duplicateKeys == .kept || seen.insert(key).inserted else {
                position = keyStart
                throw failure("the key \(JSONWriter.quoted(key)) appears twice in one object")
            }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw unexpected("where ':' should follow a key") }
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { skipWhitespace(); continue }
            if consume(UInt8(ascii: "}")) { return .object(members) }
            throw unexpected("where ',' or '}' should follow an object member")
        }
    }

    private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        position += 1
        var elements = [JSONValue]()
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { skipWhitespace(); continue }
            if consume(UInt8(ascii: "]")) { return .array(elements) }
            throw unexpected("where ',' or ']' should follow an array element")
        }
    }

    private mutating func string() throws(JSONError) -> String {
        position += 1
        var utf8 = [UInt8]()
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
                throw unexpected("inside a string (control characters must be escaped)")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    /// One escape sequence after the backslash; \u escapes may pair into one scalar.
    private mutating func escape(into utf8: inout [UInt8]) throws(JSONError) {
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
        guard bytes[position] == UInt8(ascii: "u") else { throw unexpected("after a backslash in a string") }
        position += 1
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw failure("a \\u escape holds an unpaired high surrogate")
            }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("a \\u escape holds an unpaired high surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw failure("a \\u escape holds an unpaired low surrogate") }
        utf8.append(contentsOf: Character(scalar).utf8)
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = Self.hexDigit(bytes[position]) else {
                throw failure("a \\u escape needs four hexadecimal digits")
            }
            code = code << 4 | digit
            position += 1
        }
        return code
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? , returned as its source text.
    private mutating func number() throws(JSONError) -> String {
        let start = position
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            if position < bytes.count, isDigit(bytes[position]) { throw failure("a number has a leading zero") }
        } else if try digits() == 0 {
            throw unexpected("where a digit should follow '-'")
        }
        if consume(UInt8(ascii: ".")), try digits() == 0 { throw unexpected("where a digit should follow '.'") }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            if try digits() == 0 { throw unexpected("where an exponent's digits should be") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func digits() throws(JSONError) -> Int {
        let start = position
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        return position - start
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func literal(_ word: String) throws(JSONError) {
        for expected in word.utf8 {
            guard position < bytes.count, bytes[position] == expected else { throw unexpected("in what should be '\(word)'") }
            position += 1
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private func failure(_ message: String) -> JSONError {
        JSONError(message: "\(message) at byte \(position)")
    }

    /// An error naming the byte at the current position (or the end of input).
    private func unexpected(_ context: String) -> JSONError {
        guard position < bytes.count else { return failure("unexpected end of input \(context)") }
        let byte = bytes[position]
        let shown = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return failure("unexpected \(shown) \(context)")
    }
}

/// Compact JSON text, escaped exactly as serde_json (the Rust safetensors writer) escapes it,
/// so that headers we write are byte-identical to theirs.
enum JSONWriter {
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
