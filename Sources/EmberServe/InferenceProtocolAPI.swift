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
            "inputs": tensors([signature.input]), "outputs": tensors(signature.outputs),
        ]))
    }

    func inferenceReady(_ route: Route) async throws -> Response {
        let model = try await model(route)
        return Self.json(JSONValue.object(["name": .string(model.name), "ready": .bool(true)]))
    }

    func inferenceInfer(_ route: Route, body: [UInt8]) async throws -> Response {
        let request = try JSONValue.parseObject(body)
        let model = try await model(route)
        let signature = model.servable.signature
        guard let inputs = request["inputs"] else { throw RequestError(.badRequest, "inputs: missing") }
        var wanted = signature.outputs
        if let outputs = request["outputs"] {
            guard case .array(let items) = outputs else { throw RequestError(.badRequest, "outputs: must be an array of {\"name\": ...}") }
            wanted = try items.enumerated().map { index, item in
                guard case .object(let object) = item, case .string(let name)? = object["name"],
                      let spec = signature.outputs.first(where: { $0.name == name }) else {
                    throw RequestError(.badRequest, "outputs[\(index)].name: must be one of \(signature.outputs.map(\.name).joined(separator: ", "))")
                }
                return spec
            }
        }
        let results = try await outputs(model, try InputDecoding(model.servable).tensors(inputs)) { "inputs[0].data[\($0)]" }
        var answer: [String: JSONValue] = [
            "model_name": .string(model.name), "model_version": .string("\(model.version)"),
            "outputs": .array(wanted.map { spec in
                let values = results.map { $0[spec.name]! }
                var shape = [values.count]
                var data: [JSONValue] = []
                for value in values {
                    switch value {
                    case .floats(let floats): data += floats.map { .number(Double($0)) }
                    case .string(let text): data.append(.string(text))
                    }
                }
                if spec.shape.count > 1 { shape.append(values.isEmpty ? 0 : data.count / values.count) }
                return .object(["name": .string(spec.name), "datatype": .string(spec.datatype.rawValue),
                                "shape": .array(shape.map { .number(Double($0)) }), "data": .array(data)])
            }),
        ]
        if case .string(let id)? = request["id"] { answer["id"] = .string(id) }
        return Self.json(JSONValue.object(answer))
    }
}
