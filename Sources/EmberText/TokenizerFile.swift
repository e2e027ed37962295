import EmberIO
import Foundation

/// The bytes of a tokenizer file, or an error naming it.
func readTokenizerFile(_ url: URL) throws(FileError) -> [UInt8] {
    Array(try FileError.contents(of: url, format: .tokenizer))
}

/// The text of a tokenizer file, which must be UTF-8.
func readTokenizerText(_ url: URL) throws(FileError) -> String {
    guard let text = String(validating: try readTokenizerFile(url), as: UTF8.self) else {
        throw FileError(.tokenizer, path: url.path, problem: "not UTF-8 text")
    }
    return text
}

/// A value of a JSON tokenizer file with where it sits (`model.vocab`), so that every error
/// names the file, the entry and what was expected.
struct JSONField {
    let value: JSONValue
    let file: String
    let path: String

    /// The whole file.
    static func read(_ url: URL) throws(FileError) -> JSONField {
        let bytes = try readTokenizerFile(url)
        do {
            return JSONField(value: try JSONParser.parse(bytes, duplicateKeys: .kept), file: url.path, path: "")
        } catch {
            throw FileError(.tokenizer, path: url.path, problem: "not valid JSON: \(error.message)")
        }
    }

    func error(_ problem: String) -> FileError {
        FileError(.tokenizer, path: file, member: path.isEmpty ? nil : path, problem: problem)
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    /// The member `key` of this object; nil when it is absent or null.
    func member(_ key: String) throws(FileError) -> JSONField? {
        guard case .object(let members) = value else { throw error("should be an object, found \(value.kind)") }
        guard let found = members.first(where: { $0.key == key }) else { return nil }
        let field = JSONField(value: found.value, file: file, path: path.isEmpty ? key : "\(path).\(key)")
        return field.isNull ? nil : field
    }

    func required(_ key: String) throws(FileError) -> JSONField {
        guard let field = try member(key) else {
            throw FileError(.tokenizer, path: file, member: path.isEmpty ? key : "\(path).\(key)", problem: "missing")
        }
        return field
    }

    func members() throws(FileError) -> [(key: String, value: JSONField)] {
        guard case .object(let members) = value else { throw error("should be an object, found \(value.kind)") }
        return members.map { (key: $0.key, value: JSONField(value: $0.value, file: file, path: path.isEmpty ? $0.key : "\(path).\($0.key)")) }
    }

    func elements() throws(FileError) -> [JSONField] {
        guard case .array(let elements) = value else { throw error("should be an array, found \(value.kind)") }
        return elements.enumerated().map { JSONField(value: $0.element, file: file, path: "\(path)[\($0.offset)]") }
    }

    func string() throws(FileError) -> String {
        guard case .string(let text) = value else { throw error("should be a string, found \(value.kind)") }
        return text
    }

    func bool() throws(FileError) -> Bool {
        guard case .bool(let flag) = value else { throw error("should be true or false, found \(value.kind)") }
        return flag
    }

    /// A whole number in Int's range.
    func int() throws(FileError) -> Int {
        guard case .number(let text) = value, let number = Double(text) else { throw error("should be a whole number, found \(value.kind)") }
        guard number.rounded() == number, let whole = Int(exactly: number) else { throw error("should be a whole number, found \(number)") }
        return whole
    }

    /// A token id: a whole number from 0 to 2^31 - 1.
    func id() throws(FileError) -> Int {
        let id = try int()
        guard id >= 0, id <= Int(Int32.max) else { throw error("should be a token id (0 to 2^31 - 1), found \(id)") }
        return id
    }

    /// A token id that `isToken` knows (a vocabulary or added token).
    func tokenID(_ isToken: (Int) -> Bool) throws(FileError) -> Int {
        let id = try id()
        guard isToken(id) else { throw error("is \(id), which is not the id of a token of the vocabulary or the added tokens") }
        return id
    }

    /// A number, for settings that Python writes as floats (`model_max_length`: 1e30).
    func number() throws(FileError) -> Double {
        guard case .number(let text) = value, let number = Double(text) else { throw error("should be a number, found \(value.kind)") }
        return number
    }
}
