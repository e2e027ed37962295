import HTTPTypes
import Hummingbird

/// The Open Inference Protocol (KServe v2, Triton): model metadata, readiness and `infer`
/// with typed tensors.
extension InferenceServer {
    func inferenceMetadata(_ route: Route) async throws -> Response {
        let model = try await model(route)
        let signature = model.servable.signature
        func tensors(_ specs: [TensorSpec]) -> JSONValue {
            .array(specs.map { .object(["name": .string($0.name), "datatype": .string($0.datatype.rawValue),
                                        "shape": .array($0.shape.map { .number(Double($0)) })]) })
        }
        return Self.json(JSONValue.object([
            "name": .string(model.name), "versions": .array([.string("\(model.version)")]), "platform": .string("ember"),
            "inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs),
        ]))
    }

    func inferenceReady(_ route: Route) async throws -> Response {
        let model = try await model(route)
        return Self.json(JSONValue.object(["name": .string(model.name), "ready": .bool(true)]))
    }

    /// `infer`, its body a JSON request or, with the binary tensor data extension, a JSON
    /// header of `binaryHeaderLength` bytes followed by the input's bytes. Outputs are answered
    /// in binary when the request asks (`parameters.binary_data_output`, or an output's
    /// `parameters.binary_data`).
    func inferenceInfer(_ route: Route, body: [UInt8], binaryHeaderLength: String?) async throws -> Response {
        var json = body
        var binary: ArraySlice<UInt8> = []
        if let binaryHeaderLength { (json, binary) = try BinaryTensorData.split(body, declared: binaryHeaderLength) }
        let request = try JSONValue.parseObject(json)
        let model = try await model(route)
        let signature = model.servable.signature
        guard let inputs = request["inputs"] else { throw RequestError(.badRequest, "inputs: missing") }
        let allBinary = try flag(request["parameters"], "binary_data_output", field: "parameters") ?? false
        var wanted = signature.outputs.map { (spec: $0, binary: allBinary) }
        if let outputs = request["outputs"] {
            guard case .array(let items) = outputs else { throw RequestError(.badRequest, "outputs: must be an array of {\"name\": ...}") }
            wanted = try items.enumerated().map { index, item in
                guard case .object(let object) = item, case .string(let name)? = object["name"],
                      let spec = signature.outputs.first(where: { $0.name == name }) else {
                    throw RequestError(.badRequest, "outputs[\(index)].name: must be one of \(signature.outputs.map(\.name).joined(separator: ", "))")
                }
                return (spec, try flag(object["parameters"], "binary_data", field: "outputs[\(index)].parameters") ?? allBinary)
            }
        }
        let results = try await outputs(model, try InputDecoding(model.servable).tensors(inputs, binary: binary)) { "inputs[0].data[\($0)]" }
        let batched = model.servable.inputKind.isBatched
        var binaryOutputs: [UInt8] = []
        var answer: [String: JSONValue] = [
            "model_name": .string(model.name), "model_version": .string("\(model.version)"),
            "outputs": .array(wanted.map { spec, isBinary in
                let output = Self.outputTensor(results.map { $0[spec.name]! }, spec: spec, batched: batched)
                var tensor: [String: JSONValue] = ["name": .string(spec.name), "datatype": .string(spec.datatype.rawValue),
                                                   "shape": .array(output.shape.map { .number(Double($0)) })]
                if isBinary {
                    let bytes = output.bytes()
                    binaryOutputs += bytes
                    tensor["parameters"] = .object(["binary_data_size": .number(Double(bytes.count))])
                } else {
                    tensor["data"] = .array(output.data)
                }
                return .object(tensor)
            }),
        ]
        if case .string(let id)? = request["id"] { answer["id"] = .string(id) }
        guard wanted.contains(where: \.binary) else { return Self.json(JSONValue.object(answer)) }
        let header = JSONValue.text(JSONValue.object(answer))
        return Response(status: .ok, headers: [.contentType: "application/octet-stream",
                                               HTTPField.Name(BinaryTensorData.headerField)!: "\(header.count)"],
                        body: .init(byteBuffer: ByteBuffer(bytes: header + binaryOutputs)))
    }

    /// One output of every example as one tensor: the examples stacked along a batch axis, or,
    /// for a model without one, the request's one example.
    private static func outputTensor(_ values: [OutputValue], spec: TensorSpec, batched: Bool) -> OutputTensor {
        var floats: [Float] = [], strings: [String] = [], numbers: [Double] = []
        var integers: [Int64]? = spec.datatype == .int64 ? [] : nil
        var inner: [Int] = []
        for value in values {
            switch value {
            case .floats(let row): floats += row
            case .string(let text): strings.append(text)
            case .tensor(let tensor):
                numbers += tensor.values
                integers? += tensor.int64s
                inner = tensor.shape
            }
        }
        if spec.datatype == .bytes { return OutputTensor(shape: [strings.count], datatype: .bytes, strings: strings) }
        if case .tensor? = values.first {
            return OutputTensor(shape: batched ? [values.count] + inner : inner, datatype: spec.datatype, numbers: numbers, integers: integers)
        }
        return OutputTensor(shape: spec.shape.count > 1 ? [values.count, floats.count / max(values.count, 1)] : [values.count],
                            datatype: spec.datatype, numbers: floats.map(Double.init))
    }

    /// A boolean request parameter, nil when absent.
    private func flag(_ parameters: JSONValue?, _ name: String, field: String) throws -> Bool? {
        guard let parameters else { return nil }
        guard case .object(let object) = parameters else { throw RequestError(.badRequest, "\(field): must be an object") }
        guard let value = object[name] else { return nil }
        guard case .bool(let flag) = value else { throw RequestError(.badRequest, "\(field).\(name): must be true or false, got \(value.kind)") }
        return flag
    }
}

/// An output tensor of an `infer` answer, written as JSON `data` or as binary tensor data.
private struct OutputTensor {
    let shape: [Int]
    let datatype: DataType
    var numbers: [Double] = []
    /// INT64 elements exactly, for tensor outputs of that type.
    var integers: [Int64]? = nil
    var strings: [String] = []

    var data: [JSONValue] {
        switch datatype {
        case .bytes: return strings.map { .string($0) }
        case .bool: return numbers.map { .bool($0 != 0) }
        default: return integers?.map { .integer($0) } ?? numbers.map { .number($0) }
        }
    }

    func bytes() -> [UInt8] {
        if datatype == .bytes { return BinaryTensorData.bytes(strings) }
        if let integers { return BinaryTensorData.bytes(integers) }
        return BinaryTensorData.bytes(numbers, datatype: datatype)
    }
}
