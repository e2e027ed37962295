import EmberData
import EmberIO
import Foundation

/// Request JSON to examples, checked against the model's input: every error is a 400 that
/// names the field (`instances[3].b64`, `inputs[0].shape`) and what is allowed.
struct InputDecoding {
    let inputs: [TensorSpec]
    let kind: InputKind
    /// The one input of run folders and embedders.
    var input: TensorSpec { inputs[0] }

    init(_ model: any Servable) {
        inputs = model.signature.inputs
        kind = model.inputKind
    }

    // MARK: TensorFlow Serving

    /// The row format: `instances`, one value (or `{"NAME": value}`) per example.
    func rows(_ instances: JSONValue) throws -> [ExampleInput] {
        guard case .array(let values) = instances else { throw bad("instances", "must be an array of examples, got \(instances.kind)") }
        if case .tensors(let batched) = kind {
            guard batched else {
                throw bad("instances", "the model's inputs have no batch axis (a fixed first size): send whole tensors in the columnar format, {\"inputs\": ...}")
            }
            return try values.enumerated().map { index, value in
                let field = "instances[\(index)]"
                return .tensors(try named(value, field: field).mapValues { try tensor($0.value, spec: $0.spec, batchAxis: false, field: $0.field) })
            }
        }
        return try values.enumerated().map { index, value in
            try example(unwrappingName(value), field: "instances[\(index)]")
        }
    }

    /// The columnar format: `inputs`, an array of examples, `{"NAME": [examples]}`, or for a
    /// feature model `{"FEATURE": [values], ...}`.
    func columns(_ inputs: JSONValue) throws -> [ExampleInput] {
        if case .tensors(let batched) = kind {
            let tensors = try named(inputs, field: "inputs").mapValues { try tensor($0.value, spec: $0.spec, batchAxis: true, field: $0.field) }
            return try examples(tensors, batched: batched, field: { "inputs.\($0)" })
        }
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
        case .tensors: throw bad(field, "the model takes named tensors: use :predict")
        }
    }

    // MARK: Open Inference Protocol

    /// A tensor of the request as it came: its values in `data` or, with the binary tensor
    /// data extension, its share of the bytes after the JSON header.
    private struct RequestTensor {
        let field: String
        let name: String
        let datatype: DataType
        let shape: [Int]
        let values: [JSONValue]
    }

    /// The request's `inputs`: for a tensor model, one tensor per graph input, named and typed
    /// as the graph declares; otherwise one tensor named as the model's input. Values are in
    /// `data` or, with the binary tensor data extension, in `binary`, each tensor taking the
    /// `parameters.binary_data_size` bytes after the previous one's.
    func tensors(_ inputs: JSONValue, binary: ArraySlice<UInt8> = []) throws -> [ExampleInput] {
        guard case .array(let items) = inputs, !items.isEmpty else {
            throw bad("inputs", "must be an array of tensor objects {name, shape, datatype, data}; the model's inputs: \(self.inputs.map { "'\($0.name)'" }.joined(separator: ", "))")
        }
        var rest = binary
        var tensors: [RequestTensor] = []
        for (index, item) in items.enumerated() {
            tensors.append(try requestTensor(item, field: "inputs[\(index)]", binary: &rest))
        }
        guard rest.isEmpty else {
            throw bad("inputs", "\(rest.count) bytes of binary data are left after the tensors' binary_data_size shares")
        }
        if case .tensors(let batched) = kind { return try typedExamples(tensors, batched: batched) }
        guard tensors.count == 1 else { throw bad("inputs", "has \(tensors.count) tensors; the model takes one input, '\(input.name)'") }
        let tensor = tensors[0]
        guard tensor.name == input.name else { throw bad("inputs[0].name", "must be '\(input.name)', got '\(tensor.name)'") }
        let (datatype, shape, values) = (tensor.datatype, tensor.shape, tensor.values)
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
                case .features, .tensors: throw bad("inputs[0].datatype", "is BYTES; the model's input '\(input.name)' is \(input.datatype.rawValue)")
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

    /// One of the request's tensor objects, checked for form (not yet against the model).
    private func requestTensor(_ item: JSONValue, field: String, binary: inout ArraySlice<UInt8>) throws -> RequestTensor {
        guard case .object(let tensor) = item else { throw bad(field, "must be a tensor object {name, shape, datatype, data}, got \(item.kind)") }
        guard case .string(let name) = tensor["name"] ?? .null else { throw bad("\(field).name", "must be a string naming one of the model's inputs") }
        guard case .string(let typeName) = tensor["datatype"] ?? .null, let datatype = DataType(rawValue: typeName) else {
            throw bad("\(field).datatype", "must be one of \(DataType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard case .array(let dims) = tensor["shape"] ?? .null, !dims.isEmpty || kind.takesTensors else {
            throw bad("\(field).shape", "must be an array of sizes, the batch first")
        }
        let shape = try dims.enumerated().map { index, dim -> Int in
            guard let size = dim.number, size >= 0, size <= 1e12, size == size.rounded() else {
                throw bad("\(field).shape[\(index)]", "must be a whole number 0 or more, got \(dim)")
            }
            return Int(size)
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let values: [JSONValue]
        if case .object(let parameters)? = tensor["parameters"], let size = parameters["binary_data_size"] {
            guard let bytes = size.number, bytes >= 0, bytes == bytes.rounded(), bytes <= Double(binary.count) else {
                throw bad("\(field).parameters.binary_data_size", "must be a whole number of the \(binary.count) bytes of binary data left after the JSON header, got \(size)")
            }
            guard tensor["data"] == nil else { throw bad("\(field).data", "must be absent when the tensor's data is binary") }
            let share = binary.prefix(Int(bytes))
            binary = binary.dropFirst(Int(bytes))
            values = try BinaryTensorData.values(share, datatype: datatype, count: count, text: !isImage, field: "\(field) (binary data)")
        } else {
            guard let data = tensor["data"] else {
                throw bad("\(field).data", binary.isEmpty ? "is missing" : "is missing (and \(field).parameters.binary_data_size, for the binary data after the JSON header)")
            }
            values = flattened(data)
            guard values.count == count else { throw bad("\(field).data", "has \(values.count) values; shape \(shape) needs \(count)") }
        }
        return RequestTensor(field: field, name: name, datatype: datatype, shape: shape, values: values)
    }

    /// A tensor model's request tensors as examples: every graph input given once, with the
    /// graph's data type and a shape the graph accepts; batched models split along the batch.
    private func typedExamples(_ tensors: [RequestTensor], batched: Bool) throws -> [ExampleInput] {
        var given: [String: TensorValue] = [:]
        var fields: [String: String] = [:]
        for tensor in tensors {
            guard let spec = inputs.first(where: { $0.name == tensor.name }) else {
                throw bad("\(tensor.field).name", "'\(tensor.name)' is not an input of the model; its inputs: \(inputNames)")
            }
            guard given[spec.name] == nil else { throw bad("\(tensor.field).name", "input '\(spec.name)' is given twice") }
            guard tensor.datatype == spec.datatype else {
                throw bad("\(tensor.field).datatype", "is \(tensor.datatype.rawValue); the model's input '\(spec.name)' is \(spec.datatype.rawValue)")
            }
            try checkShape(tensor.shape, of: spec, batchAxis: true, field: "\(tensor.field).shape")
            given[spec.name] = try typed(tensor.values, shape: tensor.shape, spec: spec, field: "\(tensor.field).data")
            fields[spec.name] = tensor.field
        }
        if let missing = inputs.first(where: { given[$0.name] == nil }) {
            throw bad("inputs", "has no tensor named '\(missing.name)'; the model's inputs: \(inputNames)")
        }
        return try examples(given, batched: batched) { "\(fields[$0]!).shape" }
    }

    /// Whole tensors by input name as examples: one per row of the batch axis (the same size
    /// in every input), or one example of the whole tensors for a model without a batch axis.
    private func examples(_ tensors: [String: TensorValue], batched: Bool, field: (String) -> String) throws -> [ExampleInput] {
        guard batched else { return [.tensors(tensors)] }
        let first = inputs[0].name, batch = tensors[first]!.shape[0]
        for spec in inputs.dropFirst() where tensors[spec.name]!.shape[0] != batch {
            throw bad(field(spec.name), "has batch size \(tensors[spec.name]!.shape[0]); '\(first)' has \(batch) (every input's first size is the batch)")
        }
        return (0..<batch).map { row in
            .tensors(tensors.mapValues { tensor in
                let size = batch == 0 ? 0 : tensor.values.count / batch
                let rows = row * size..<(row + 1) * size
                return TensorValue(datatype: tensor.datatype, shape: Array(tensor.shape.dropFirst()),
                                   values: Array(tensor.values[rows]), integers: tensor.integers.map { Array($0[rows]) })
            })
        }
    }

    private var isImage: Bool { if case .image = kind { return true } else { return false } }

    // MARK: Typed tensors

    private var inputNames: String { inputs.map { "'\($0.name)'" }.joined(separator: ", ") }

    /// A TF Serving value for a tensor model: an object naming every input, or, for a model of
    /// one input, the input's value itself. Gives each input's value, spec and field.
    private func named(_ value: JSONValue, field: String) throws -> [String: (value: JSONValue, spec: TensorSpec, field: String)] {
        if inputs.count == 1 {
            guard case .object(let object) = value else { return [input.name: (value, input, field)] }
            if object.count == 1, let inner = object[input.name] { return [input.name: (inner, input, "\(field).\(input.name)")] }
        }
        guard case .object(let object) = value else {
            throw bad(field, "must be an object of the model's inputs (\(inputNames)), got \(value.kind)")
        }
        if let unknown = object.keys.sorted().first(where: { key in !inputs.contains { $0.name == key } }) {
            throw bad("\(field).\(unknown)", "is not an input of the model; its inputs: \(inputNames)")
        }
        if let missing = inputs.first(where: { object[$0.name] == nil }) {
            throw bad(field, "has no input '\(missing.name)'; the model's inputs: \(inputNames)")
        }
        return Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, (object[$0.name]!, $0, "\(field).\($0.name)")) })
    }

    /// Nested JSON arrays as a tensor of `spec`'s type, its shape the arrays' (with or without
    /// the batch axis) and one the graph accepts.
    private func tensor(_ value: JSONValue, spec: TensorSpec, batchAxis: Bool, field: String) throws -> TensorValue {
        let (shape, leaves) = try nested(value, field: field)
        try checkShape(shape, of: spec, batchAxis: batchAxis, field: field)
        return try typed(leaves, shape: shape, spec: spec, field: field, nested: true)
    }

    /// The shape of rectangular nested arrays and their leaves, row-major.
    private func nested(_ value: JSONValue, field: String) throws -> (shape: [Int], leaves: [JSONValue]) {
        guard case .array(let items) = value else { return ([], [value]) }
        var inner: [Int]?
        var leaves: [JSONValue] = []
        for (index, item) in items.enumerated() {
            let (shape, values) = try nested(item, field: "\(field)[\(index)]")
            if let inner, inner != shape {
                throw bad("\(field)[\(index)]", "has shape \(shape), the values before it \(inner): a tensor's nested arrays are all the same size")
            }
            inner = shape
            leaves += values
        }
        return ([items.count] + (inner ?? []), leaves)
    }

    /// Checks a shape against the input's, -1 there allowing any size.
    private func checkShape(_ shape: [Int], of spec: TensorSpec, batchAxis: Bool, field: String) throws {
        let expected = batchAxis || !kind.isBatched ? spec.shape : Array(spec.shape.dropFirst())
        guard shape.count == expected.count, zip(shape, expected).allSatisfy({ $1 == -1 || $0 == $1 }) else {
            let described = batchAxis || !kind.isBatched ? "\(spec.shape)" : "\(spec.shape) without the batch, \(expected)"
            throw bad(field, "has shape \(shape); the model's input '\(spec.name)' is \(described) (-1: any size)")
        }
        // An empty open axis other than the batch reaches operations that expect elements.
        let batch = batchAxis && kind.isBatched ? 1 : 0
        if let axis = shape.indices.dropFirst(batch).first(where: { shape[$0] == 0 && expected[$0] == -1 }) {
            throw bad(field, "has shape \(shape); its open axis \(axis) must hold 1 or more")
        }
    }

    /// Leaves as values of `spec`'s type: booleans for BOOL, whole numbers in range for
    /// integers, finite numbers for floats. Errors name a leaf by its flat index in `data`, or
    /// by its index in each nested array.
    private func typed(_ leaves: [JSONValue], shape: [Int], spec: TensorSpec, field: String, nested: Bool = false) throws -> TensorValue {
        func position(_ flat: Int) -> String {
            guard nested else { return "[\(flat)]" }
            var rest = flat, indices: [Int] = []
            for size in shape.reversed() {
                indices.append(rest % size)
                rest /= size
            }
            return indices.reversed().map { "[\($0)]" }.joined()
        }
        let values = try leaves.enumerated().map { index, leaf -> Double in
            let field = field + position(index)
            if spec.datatype == .bool {
                guard case .bool(let flag) = leaf else { throw bad(field, "must be true or false (input '\(spec.name)' is BOOL), got \(leaf.kind)") }
                return flag ? 1 : 0
            }
            let value = try number(leaf, field: field)
            if let range = spec.datatype.integerRange {
                guard value == value.rounded(), range.contains(value) else {
                    throw bad(field, "is \(value); input '\(spec.name)' is \(spec.datatype.rawValue), whole numbers from \(range.lowerBound) to \(range.upperBound)")
                }
            }
            return value
        }
        guard spec.datatype == .int64 else { return TensorValue(datatype: spec.datatype, shape: shape, values: values) }
        // Whole numbers were checked above; those written as integers keep every digit.
        let integers = zip(leaves, values).map { leaf, value -> Int64 in
            if case .integer(let exact) = leaf { return exact }
            return TensorValue.int64(value)
        }
        return TensorValue(datatype: spec.datatype, shape: shape, values: values, integers: integers)
    }

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
        guard let number = value.number else { throw bad(field, "must be a number, got \(value.kind)") }
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
