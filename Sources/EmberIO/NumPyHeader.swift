/// The header of a `.npy` file: a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, written by `repr` and read
/// here without evaluating anything (the literal subset: strings, ints, booleans, tuples,
/// lists, dicts).
struct NumPyHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    init(descr: String, fortranOrder: Bool, shape: [Int]) {
        self.descr = descr
        self.fortranOrder = fortranOrder
        self.shape = shape
    }

    init(parsing text: String) throws(FormatProblem) {
        var parser = LiteralParser(text: Array(text.utf8))
        let value = try parser.parseValue()
        parser.skipSpace()
        guard parser.position == parser.text.count else { throw FormatProblem("the header has text after its dict: \(text)") }
        guard case .dict(let entries) = value else { throw FormatProblem("the header is not a dict: \(text)") }
        let keys = Set(entries.map(\.key))
        guard keys == ["descr", "fortran_order", "shape"] && entries.count == 3 else {
            throw FormatProblem("the header must have exactly the keys descr, fortran_order and shape, it has \(entries.map(\.key).sorted()): \(text)")
        }
        let dict = Dictionary(uniqueKeysWithValues: entries)
        switch dict["descr"]! {
        case .string(let descr): self.descr = descr
        case .list: throw FormatProblem("structured arrays (a list of fields as descr) are not supported: \(text)")
        default: throw FormatProblem("descr is not a string: \(text)")
        }
        guard case .bool(let fortranOrder) = dict["fortran_order"]! else { throw FormatProblem("fortran_order is not True or False: \(text)") }
        self.fortranOrder = fortranOrder
        guard case .tuple(let dimensions) = dict["shape"]! else { throw FormatProblem("shape is not a tuple: \(text)") }
        shape = try dimensions.map { dimension throws(FormatProblem) in
            guard case .int(let n) = dimension, n >= 0 else { throw FormatProblem("shape has a dimension that is not a non-negative integer: \(text)") }
            return n
        }
    }

    /// The dict exactly as NumPy's `write_array_header` spells it: keys sorted, `repr` values,
    /// and spaces after it that leave room to grow the first (last, in Fortran order)
    /// dimension in place up to 21 digits.
    var text: String {
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(dimensions), }"
        let growing = shape.isEmpty ? 0 : 21 - String(fortranOrder ? shape.last! : shape[0]).count
        return dict + String(repeating: " ", count: max(0, growing))
    }
}

/// A Python literal value, as far as `.npy` headers use them.
private enum Literal {
    case string(String), int(Int), bool(Bool), tuple([Literal]), list([Literal]), dict([(key: String, value: Literal)])
}

private struct LiteralParser {
    let text: [UInt8]
    var position = 0

    mutating func skipSpace() {
        while position < text.count, [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(text[position]) {
            position += 1
        }
    }

    private func fail(_ expected: String) -> FormatProblem {
        FormatProblem("cannot parse the header: expected \(expected) at character \(position) of \(String(decoding: text, as: UTF8.self))")
    }

    mutating func parseValue() throws(FormatProblem) -> Literal {
        skipSpace()
        guard position < text.count else { throw fail("a value") }
        switch text[position] {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "("): return .tuple(try parseSequence(closing: ")"))
        case UInt8(ascii: "["): return .list(try parseSequence(closing: "]"))
        case UInt8(ascii: "{"): return try parseDict()
        default: break
        }
        var end = position
        while end < text.count, text[end] == UInt8(ascii: "-") || text[end] == UInt8(ascii: "_") || (text[end] >= 48 && text[end] <= 57) || (text[end] | 0x20 >= 97 && text[end] | 0x20 <= 122) {
            end += 1
        }
        var word = String(decoding: text[position..<end], as: UTF8.self)
        // Python 2 wrote long integers with an L suffix.
        if word.count > 1, word.last == "L" { word.removeLast() }
        let value: Literal
        if word == "True" { value = .bool(true) } else if word == "False" { value = .bool(false) } else if let n = Int(word) { value = .int(n) } else { throw fail("a string, number, True, False, tuple, list or dict") }
        position = end
        return value
    }

    private mutating func parseString() throws(FormatProblem) -> String {
        let quote = text[position]
        position += 1
        var bytes = [UInt8]()
        while position < text.count, text[position] != quote {
            // Escapes do not occur in numeric descrs; keep the escaped character.
            if text[position] == UInt8(ascii: "\\") { position += 1 }
            if position < text.count { bytes.append(text[position]) }
            position += 1
        }
        guard position < text.count else { throw fail("a closing quote") }
        position += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Items separated by commas, a trailing comma allowed, up to `closing`.
    private mutating func parseSequence(closing: Character) throws(FormatProblem) -> [Literal] {
        position += 1
        var items = [Literal]()
        while true {
            skipSpace()
            if position < text.count, text[position] == closing.asciiValue! {
                position += 1
                return items
            }
            items.append(try parseValue())
            skipSpace()
            if position < text.count, text[position] == UInt8(ascii: ",") {
                position += 1
            } else if position >= text.count || text[position] != closing.asciiValue! {
                throw fail("',' or '\(closing)'")
            }
        }
    }

    private mutating func parseDict() throws(FormatProblem) -> Literal {
        position += 1
        var entries = [(key: String, value: Literal)]()
        while true {
            skipSpace()
            if position < text.count, text[position] == UInt8(ascii: "}") {
                position += 1
                return .dict(entries)
            }
            guard case .string(let key) = try parseValue() else { throw fail("a string key") }
            skipSpace()
            guard position < text.count, text[position] == UInt8(ascii: ":") else { throw fail("':'") }
            position += 1
            entries.append((key, try parseValue()))
            skipSpace()
            if position < text.count, text[position] == UInt8(ascii: ",") {
                position += 1
            } else if position >= text.count || text[position] != UInt8(ascii: "}") {
                throw fail("',' or '}'")
            }
        }
    }
}
