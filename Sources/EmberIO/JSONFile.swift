import Foundation

/// Codable values in JSON files (configurations, run descriptions), with errors that name the
/// file, the key and what was expected instead of Foundation's `DecodingError` descriptions.
public enum JSONFile {
    /// Decodes the JSON file `url` as `T`. A file that is not JSON is reported by Ember's own
    /// parser (with the byte position); a value of the wrong kind names its key.
    public static func decode<T: Decodable>(_ type: T.Type, from url: URL, format: FileError.Format,
                                            decoder: JSONDecoder = JSONDecoder()) throws(FileError) -> T {
        try decode(type, from: FileError.contents(of: url, format: format), path: url.path, format: format, decoder: decoder)
    }

    /// Decodes JSON `data`; `path` names its file in errors.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String, format: FileError.Format,
                                            decoder: JSONDecoder = JSONDecoder()) throws(FileError) -> T {
        do {
            _ = try JSONParser.parse([UInt8](data), duplicateKeys: .kept)
        } catch {
            throw FileError(format, path: path, problem: "not valid JSON: \(error.message)")
        }
        do {
            return try decoder.decode(type, from: data)
        } catch let error as DecodingError {
            let (member, problem) = explain(error)
            throw FileError(format, path: path, member: member, problem: problem)
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(format, path: path, problem: "\(error)")
        }
    }

    /// Writes `value` as sorted, indented JSON, atomically. A value JSON cannot hold (NaN,
    /// infinity) is an error naming its key.
    public static func write<T: Encodable>(_ value: T, to url: URL, format: FileError.Format) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch let EncodingError.invalidValue(value, context) {
            throw FileError(format, path: url.path, member: keyPath(context.codingPath),
                            problem: "cannot hold \(value): JSON has no NaN or infinity")
        } catch {
            throw FileError(format, path: url.path, problem: "cannot be encoded")
        }
        try AtomicFile.write(data, to: url, format: format)
    }

    /// A decoding error as the key it concerns (nil for the whole file) and what is wrong.
    public static func explain(_ error: DecodingError) -> (member: String?, problem: String) {
        switch error {
        case .dataCorrupted(let context):
            return (keyPath(context.codingPath), context.debugDescription)
        case .keyNotFound(let key, let context):
            return (keyPath(context.codingPath + [key]), "missing (a required key)")
        case .typeMismatch(let type, let context):
            return (keyPath(context.codingPath), "expected \(describe(type))")
        case .valueNotFound(let type, let context):
            return (keyPath(context.codingPath), "expected \(describe(type)), found null")
        @unknown default:
            return (nil, "does not hold what was expected")
        }
    }

    /// `input.image.mean[2]`; nil for the root.
    static func keyPath(_ keys: [any CodingKey]) -> String? {
        guard !keys.isEmpty else { return nil }
        return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: return "a whole number"
        case is any BinaryFloatingPoint.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
