import EmberData
import EmberIO
import Foundation

/// Request JSON to examples, checked against the model's input: every error is a 400 that
/// names the field (`instances[3].b64`, `inputs[0].shape`) and what is allowed.
struct InputDecoding {
    let input: TensorSpec
    let kind: InputKind

    init(_ model: any Servable) {
        input = model.signature.input
        kind = model.inputKind
    }

    // MARK: TensorFlow Serving

    /// The row format: `instances`, one value (or `{"NAME": value}`) per example.
    func rows(_ instances: JSONValue) throws -> [ExampleInput] {
        guard case .array(let values) = instances else { throw bad("instances", "must be an array of examples, got \(instances.kind)") }
        return try values.enumerated().map { index, value in
            try example(unwrappingName(value), field: "instances[\(index)]")
        }
    }

    /// The columnar format: `inputs`, an array of examples, `{"NAME": [examples]}`, or for a
    /// feature model `{"FEATURE": [values], ...}`.
    func columns(_ inputs: JSONValue) throws -> [ExampleInput] {
        if case .object(let object) = inputs, case .features(let names) = kind, Set(object.keys) == Set(names) {
            var columns: [[Double]] = []
            for name in names {
                guard case .array(let values) = object[name]! else { throw bad("inputs.\(name)", "must be an array of values, got \(object[name]!.kind)") }
                columns.append(try values.enumerated().map { try number($1, field: "inputs.\(name)[\($0)]") })
            }
            guard Set(columns.map(\.count)).count <= 1 else { throw bad("inputs", "the feature columns have different lengths \(columns.map(\.count))") }
            return (0..<(columns.first?.count ?? 0)).map { row in .features(columns.map { Float($0[row]) }) }
        }
        var field = "inputs", batch = inputs
        if case .object(let object) = inputs {
            guard object.count == 1, let value = object[input.name] else {
                throw bad("inputs", "an object names the model's input, '\(input.name)'; got \(object.keys.sorted().map { "'\($0)'" }.joined(separator: ", "))")
            }
            (field, batch) = ("inputs.\(input.name)", value)
        }
        guard case .array(let values) = batch else { throw bad(field, "must be an array of examples, got \(batch.kind)") }
        return try values.enumerated().map { try example($1, field: "\(field)[\($0)]") }
    }

    /// `:classify`'s `examples`: objects of named features (or the input's name).
    func classifyExamples(_ examples: JSONValue) throws -> [ExampleInput] {
        guard case .array(let values) = examples else { throw bad("examples", "must be an array of objects, got \(examples.kind)") }
        return try values.enumerated().map { index, value in
            guard case .object = value else { throw bad("examples[\(index)]", "must be an object of named features, got \(value.kind)") }
            return try example(unwrappingName(value), field: "examples[\(index)]")
        }
    }

    /// `{"NAME": value}` as value, for the model's one input.
    private func unwrappingName(_ value: JSONValue) -> JSONValue {
        if case .object(let object) = value, object.count == 1, let inner = object[input.name] { return inner }
        return value
    }

    /// One example's value, as TF Serving's JSON writes it.
    private func example(_ value: JSONValue, field: String) throws -> ExampleInput {
        switch kind {
        case .image(let channels, let height, let width):
            if case .object(let object) = value {
                guard object.count == 1, let encoded = object["b64"] else { throw bad(field, "an image is {\"b64\": base64 of a PNG or PPM file} or pixel values") }
                return try image(encoded, field: field + ".b64")
            }
            return .pixels(try numbers(value, shape: [channels, height, width], field: field).map { Float($0) })
        case .features(let names):
            if case .object(let object) = value {
                return .features(try names.map { name in
                    guard let entry = object[name] else { throw bad(field, "has no feature '\(name)' (the model reads \(names.joined(separator: ", ")))") }
                    return Float(try number(entry, field: "\(field).\(name)"))
                })
            }
            return .features(try numbers(value, shape: [names.count], field: field).map { Float($0) })
        case .text:
            switch value {
            case .string(let text): return .text(text)
            case .object(let object) where object.count == 1 && object["b64"] != nil:
                guard let bytes = base64(object["b64"]!), let text = String(bytes: bytes, encoding: .utf8) else {
                    throw bad(field + ".b64", "must be base64 of UTF-8 text")
                }
                return .text(text)
            default: throw bad(field, "must be a text (a string), got \(value.kind)")
            }
        }
    }

    // MARK: Open Inference Protocol

    /// The request's `inputs`: one tensor, named as the model's input, its values in `data` or,
    /// with the binary tensor data extension, in `binary` (`parameters.binary_data_size` bytes).
    func tensors(_ inputs: JSONValue, binary: ArraySlice<UInt8> = []) throws -> [ExampleInput] {
        guard case .array(let tensors) = inputs, tensors.count == 1, case .object(let tensor) = tensors[0] else {
            throw bad("inputs", "must be an array of one tensor object {name, shape, datatype, data}: the model takes one input, '\(input.name)'")
        }
        guard case .string(let name) = tensor["name"] ?? .null, name == input.name else {
            throw bad("inputs[0].name", "must be '\(input.name)', got \(tensor["name"].map { "\($0)" } ?? "nothing")")
        }
        guard case .string(let typeName) = tensor["datatype"] ?? .null, let datatype = DataType(rawValue: typeName) else {
            throw bad("inputs[0].datatype", "must be one of \(DataType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard case .array(let dims) = tensor["shape"] ?? .null, !dims.isEmpty else { throw bad("inputs[0].shape", "must be an array of sizes, the batch first") }
        let shape = try dims.enumerated().map { index, dim -> Int in
            guard case .number(let size) = dim, size >= 0, size <= 1e12, size == size.rounded() else {
                throw bad("inputs[0].shape[\(index)]", "must be a whole number 0 or more, got \(dim)")
            }
            return Int(size)
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let values: [JSONValue]
        if case .object(let parameters)? = tensor["parameters"], let size = parameters["binary_data_size"] {
            guard case .number(let bytes) = size, bytes == Double(binary.count) else {
                throw bad("inputs[0].parameters.binary_data_size", "must be the \(binary.count) bytes after the JSON header, got \(size)")
            }
            guard tensor["data"] == nil else { throw bad("inputs[0].data", "must be absent when the tensor's data is binary") }
            values = try BinaryTensorData.values(binary, datatype: datatype, count: count, text: !isImage, field: "inputs[0] (binary data)")
        } else {
            guard binary.isEmpty else { throw bad("inputs[0].parameters.binary_data_size", "is missing, but \(binary.count) bytes of binary data follow the JSON header") }
            guard let data = tensor["data"] else { throw bad("inputs[0].data", "is missing") }
            values = flattened(data)
            guard values.count == count else { throw bad("inputs[0].data", "has \(values.count) values; shape \(shape) needs \(count)") }
        }
        let batch = shape[0]
        let expected = input.shape.dropFirst()
        if datatype == .bytes {
            guard shape.count == 1 || (shape.count == 2 && shape[1] == 1) else { throw bad("inputs[0].shape", "is \(shape); BYTES inputs are [batch] or [batch, 1]") }
            return try values.enumerated().map { index, value in
                let field = "inputs[0].data[\(index)]"
                switch kind {
                case .image: return try image(value, field: field)
                case .text:
                    guard case .string(let text) = value else { throw bad(field, "must be a string, got \(value.kind)") }
                    return .text(text)
                case .features: throw bad("inputs[0].datatype", "is BYTES; the model's input '\(input.name)' is \(input.datatype.rawValue)")
                }
            }
        }
        if case .text = kind { throw bad("inputs[0].datatype", "is \(datatype.rawValue); the model's input '\(input.name)' is BYTES (texts)") }
        guard datatype != .bool else { throw bad("inputs[0].datatype", "is BOOL; the model's input '\(input.name)' is numeric") }
        guard Array(shape.dropFirst()) == Array(expected) else {
            throw bad("inputs[0].shape", "is \(shape); the model's input '\(input.name)' is \(input.shape) (-1: any batch)")
        }
        let scale: Double = datatype == .uint8 && isImage ? 1.0 / 255 : 1
        let numbers = try values.enumerated().map { index, value -> Float in
            let number = try number(value, field: "inputs[0].data[\(index)]")
            if datatype != .fp16 && datatype != .fp32 && datatype != .fp64, number != number.rounded() {
                throw bad("inputs[0].data[\(index)]", "is \(number); a \(datatype.rawValue) tensor holds whole numbers")
            }
            return Float(number * scale)
        }
        let size = batch == 0 ? 0 : numbers.count / batch
        return (0..<batch).map { row in
            let values = Array(numbers[row * size..<(row + 1) * size])
            return isImage ? .pixels(values) : .features(values)
        }
    }

    private var isImage: Bool { if case .image = kind { return true } else { return false } }

    // MARK: Values

    private func image(_ value: JSONValue, field: String) throws -> ExampleInput {
        var encoded = value
        if case .object(let object) = value, object.count == 1, let inner = object["b64"] { encoded = inner }
        guard let bytes = base64(encoded) else { throw bad(field, "must be base64 of a PNG or PPM file") }
        do {
            return .image(try Image(encoded: bytes, source: field))
        } catch {
            throw bad(field, "is not an image Ember reads: \(error)")
        }
    }

    private func base64(_ value: JSONValue) -> [UInt8]? {
        guard case .string(let text) = value, let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else { return nil }
        return [UInt8](data)
    }

    private func number(_ value: JSONValue, field: String) throws -> Double {
        guard case .number(let number) = value else { throw bad(field, "must be a number, got \(value.kind)") }
        guard number.isFinite else { throw bad(field, "must be a finite number") }
        return number
    }

    /// Nested arrays of numbers of exactly `shape`, row-major.
    private func numbers(_ value: JSONValue, shape: [Int], field: String) throws -> [Double] {
        guard let size = shape.first else { return [try number(value, field: field)] }
        guard case .array(let items) = value, items.count == size else {
            let got = if case .array(let items) = value { "\(items.count) values" } else { value.kind }
            throw bad(field, "must be an array of \(size) (the model's input is \(input.shape.dropFirst()), -1 the batch), got \(got)")
        }
        return try items.enumerated().flatMap { try numbers($1, shape: Array(shape.dropFirst()), field: "\(field)[\($0)]") }
    }

    /// The leaves of nested arrays, row-major (the protocol allows flat or nested data).
    private func flattened(_ value: JSONValue) -> [JSONValue] {
        guard case .array(let items) = value else { return [value] }
        return items.flatMap(flattened)
    }

    private func bad(_ field: String, _ problem: String) -> RequestError {
        RequestError(.badRequest, "\(field): \(problem)")
    }
}
