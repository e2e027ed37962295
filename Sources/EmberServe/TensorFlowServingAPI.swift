import Hummingbird

/// TensorFlow Serving's REST API: model status, metadata (the `serving_default` signature),
/// `:predict` in the row (`instances`) and columnar (`inputs`) formats, and `:classify`.
extension InferenceServer {
    func tensorFlowStatus(_ route: Route) async throws -> Response {
        let statuses = try await repository.statuses(route.model ?? "", version: route.version)
        return Self.json(["model_version_status": statuses.map { status -> JSONValue in
            .object(["version": .string("\(status.version)"), "state": .string(status.state.rawValue),
                     "status": .object(["error_code": .string(status.error == nil ? "OK" : "UNKNOWN"),
                                        "error_message": .string(status.error ?? "")])])
        }])
    }

    func tensorFlowMetadata(_ route: Route) async throws -> Response {
        let model = try await model(route)
        let signature = model.servable.signature
        func tensors(_ specs: [TensorSpec]) -> JSONValue {
            .object(Dictionary(uniqueKeysWithValues: specs.map { spec in
                (spec.name, .object(["name": .string(spec.name), "dtype": .string(spec.datatype.tensorFlowName),
                                     "tensor_shape": .object(["dim": .array(spec.shape.map { .object(["size": .string("\($0)"), "name": .string("")]) }),
                                                              "unknown_rank": .bool(false)])]))
            }))
        }
        let definition: JSONValue = .object(["inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs),
                                             "method_name": .string("tensorflow/serving/predict")])
        return Self.json(JSONValue.object([
            "model_spec": .object(["name": .string(model.name), "signature_name": .string(""), "version": .string("\(model.version)")]),
            "metadata": .object(["signature_def": .object(["signature_def": .object(["serving_default": definition])])]),
        ]))
    }

    func tensorFlowPredict(_ route: Route, body: [UInt8]) async throws -> Response {
        let request = try JSONValue.parseObject(body)
        try Self.checkSignatureName(request)
        let model = try await model(route)
        let decoding = InputDecoding(model.servable)
        let outputs = model.servable.signature.outputs
        switch (request["instances"], request["inputs"]) {
        case (let instances?, nil):
            let results = try await self.outputs(model, try decoding.rows(instances)) { "instances[\($0)]" }
            return Self.json(["predictions": results.map { result -> JSONValue in
                outputs.count == 1 ? result[outputs[0].name]!.json : .object(result.mapValues(\.json))
            }])
        case (nil, let inputs?):
            let results = try await self.outputs(model, try decoding.columns(inputs)) { "inputs[\($0)]" }
            // A model without a batch axis answers its one example's whole tensors.
            let batched = model.servable.inputKind.isBatched
            let columns = outputs.map { spec in (spec.name, batched ? JSONValue.array(results.map { $0[spec.name]!.json }) : results[0][spec.name]!.json) }
            return Self.json(["outputs": outputs.count == 1 ? columns[0].1 : .object(Dictionary(uniqueKeysWithValues: columns))])
        case (nil, nil): throw RequestError(.badRequest, "instances: missing; give \"instances\" (rows) or \"inputs\" (columns)")
        case (_?, _?): throw RequestError(.badRequest, "inputs: give either \"instances\" or \"inputs\", not both")
        }
    }

    /// `{"examples": [...]}` to `{"results": [[[label, probability], ...], ...]}`, classes
    /// most likely first.
    func tensorFlowClassify(_ route: Route, body: [UInt8]) async throws -> Response {
        let request = try JSONValue.parseObject(body)
        try Self.checkSignatureName(request)
        let model = try await model(route)
        guard model.servable.signature.classifies else {
            throw RequestError(.badRequest, "model '\(model.name)' is not a classifier: use :predict")
        }
        guard let examples = request["examples"] else { throw RequestError(.badRequest, "examples: missing") }
        let results = try await outputs(model, try InputDecoding(model.servable).classifyExamples(examples)) { "examples[\($0)]" }
        let names = model.servable.classNames
        return Self.json(["results": results.map { result -> JSONValue in
            guard case .floats(let probabilities)? = result["probabilities"] else { return .array([]) }
            return .array(probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.map {
                .array([.string(names[$0]), .number(Double(probabilities[$0]))])
            })
        }])
    }

    /// Ember's models have one signature, TF Serving's default.
    private static func checkSignatureName(_ request: [String: JSONValue]) throws {
        guard let name = request["signature_name"] else { return }
        guard name == .string("serving_default") || name == .string("") else {
            throw RequestError(.badRequest, "signature_name: the model has one signature, \"serving_default\"; got \(name)")
        }
    }
}

extension OutputValue {
    var json: JSONValue {
        switch self {
        case .floats(let values): return .array(values.map { .number(Double($0)) })
        case .string(let text): return .string(text)
        case .tensor(let tensor): return tensor.json
        }
    }
}

extension TensorValue {
    /// Nested arrays of the tensor's shape (TF Serving's form); booleans for BOOL.
    var json: JSONValue {
        func nest(_ axis: Int, _ offset: Int) -> JSONValue {
            guard axis < shape.count else { return json(at: offset) }
            let stride = shape[(axis + 1)...].reduce(1, *)
            return .array((0..<shape[axis]).map { nest(axis + 1, offset + $0 * stride) })
        }
        return nest(0, 0)
    }
}
