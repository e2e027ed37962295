import Ember
import EmberNN
import EmberONNX
@testable import EmberServe
import Foundation
import XCTest

/// ONNX models in the repository (`NAME/VERSION/model.onnx`, written by Ember's exporter),
/// served with the graph's named, typed inputs and outputs over both protocols; answers are
/// compared with the same file run by `ONNXModel` directly, and with onnxruntime when
/// EMBER_PYTHON names a Python that has it.
final class ONNXServingTests: XCTestCase {
    private var repository: URL!
    private var server: RunningServer!

    /// Two inputs of a batch axis, `features` [batch, 4] FP32 and `offset` [batch, 1] INT64;
    /// three outputs, `logits` [batch, 3] FP32, `best` [batch] INT64, `confident` [batch] BOOL.
    static func writePairModel(to folder: URL) throws {
        manualSeed(3)
        let linear = Linear(4, 3)
        let proto = try ONNXExporter.exportInEvaluationMode(linear) {
            try ONNXExporter.export(inputs: [ONNXInput("features", [2, 4], dynamicAxes: [0: "batch"]),
                                             ONNXInput("offset", [2, 1], .int64, dynamicAxes: [0: "batch"])],
                                    outputs: ["logits", "best", "confident"], parameters: ONNXExporter.stateNames(linear)) { v in
                let logits = linear(v[0]) + v[1].cast(to: .float32)
                return [logits, logits.argmax(axis: -1), logits.max(axis: -1) .< logits.sum(axis: -1)]
            }
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ONNXExporter.write(proto, to: folder.appendingPathComponent("model.onnx"))
    }

    /// One input of fixed shape, `x` [2, 3] (no batch axis), and `y` = 2x + 1.
    static func writeFixedModel(to folder: URL) throws {
        let proto = try ONNXExporter.export(inputs: [ONNXInput("x", [2, 3])], outputs: ["y"]) { v in [v[0] * 2 + 1] }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ONNXExporter.write(proto, to: folder.appendingPathComponent("model.onnx"))
    }

    override func setUp() async throws {
        repository = try temporaryDirectory()
        try Self.writePairModel(to: repository.appendingPathComponent("pair/1"))
        try Self.writeFixedModel(to: repository.appendingPathComponent("fixed/2"))
        server = try await RunningServer(ServeConfiguration(modelDirectory: repository))
    }

    override func tearDown() async throws {
        await server?.stop()
        try? FileManager.default.removeItem(at: repository)
    }

    private let features: [[Float]] = [[1, 2, 3, 4], [-1, 0.5, 0, 2], [0, 0, 0, 0]]
    private let offsets: [Int64] = [0, 3, -2]

    /// The pair model run directly on the rows: logits, best and confident, by name.
    private func direct() throws -> [String: Tensor] {
        let model = try ONNXModel(contentsOf: repository.appendingPathComponent("pair/1/model.onnx"))
        return try noGrad { try model([ "features": Tensor(features), "offset": Tensor(offsets, shape: [3, 1])]) }
    }

    private func assertClose(_ actual: Any?, _ expected: [Double], accuracy: Double = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        guard let values = actual as? [Double] else { return XCTFail("not numbers: \(String(describing: actual))", file: file, line: line) }
        XCTAssertEqual(values.count, expected.count, file: file, line: line)
        for (a, b) in zip(values, expected) { XCTAssertEqual(a, b, accuracy: accuracy, file: file, line: line) }
    }

    func testMetadataIsTheGraphsSignature() async throws {
        let metadata = try await server.get("/v2/models/pair")
        XCTAssertEqual(metadata.status, 200, metadata.text)
        func tensors(_ key: String) -> [String] {
            ((metadata.json as? [String: Any])?[key] as? [[String: Any]] ?? []).map {
                "\($0["name"]!) \($0["datatype"]!) \(($0["shape"] as? [Int]) ?? [])"
            }
        }
        XCTAssertEqual(tensors("inputs"), ["features FP32 [-1, 4]", "offset INT64 [-1, 1]"])
        XCTAssertEqual(tensors("outputs"), ["logits FP32 [-1, 3]", "best INT64 [-1]", "confident BOOL [-1]"])

        let tensorFlow = try await server.get("/v1/models/pair/metadata")
        let signature = (((tensorFlow.json as? [String: Any])?["metadata"] as? [String: Any])?["signature_def"] as? [String: Any])
            .flatMap { ($0["signature_def"] as? [String: Any])?["serving_default"] as? [String: Any] }
        let offset = (signature?["inputs"] as? [String: Any])?["offset"] as? [String: Any]
        XCTAssertEqual(offset?["dtype"] as? String, "DT_INT64")
        let dims = ((offset?["tensor_shape"] as? [String: Any])?["dim"] as? [[String: Any]])?.compactMap { $0["size"] as? String }
        XCTAssertEqual(dims, ["-1", "1"])
        XCTAssertEqual(((signature?["outputs"] as? [String: Any])?["confident"] as? [String: Any])?["dtype"] as? String, "DT_BOOL")

        let fixed = try await server.get("/v2/models/fixed/versions/2")
        let input = ((fixed.json as? [String: Any])?["inputs"] as? [[String: Any]])?.first
        XCTAssertEqual(input?["shape"] as? [Int], [2, 3])
    }

    func testInferWithTypedTensorsMatchesTheModelRunDirectly() async throws {
        let expected = try direct()
        let answer = try await server.post("/v2/models/pair/infer", ["id": "q1", "inputs": [
            ["name": "offset", "datatype": "INT64", "shape": [3, 1], "data": offsets.map(Int.init)],
            ["name": "features", "datatype": "FP32", "shape": [3, 4], "data": features],
        ]])
        XCTAssertEqual(answer.status, 200, answer.text)
        let json = answer.json as? [String: Any]
        XCTAssertEqual(json?["id"] as? String, "q1")
        let outputs = Dictionary(uniqueKeysWithValues: (json?["outputs"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0) })
        XCTAssertEqual(outputs["logits"]?["shape"] as? [Int], [3, 3])
        assertClose(outputs["logits"]?["data"], expected["logits"]!.doubles)
        XCTAssertEqual(outputs["best"]?["datatype"] as? String, "INT64")
        XCTAssertEqual(outputs["best"]?["data"] as? [Int], expected["best"]!.scalars(as: Int64.self).map(Int.init))
        XCTAssertEqual(outputs["confident"]?["data"] as? [Bool], expected["confident"]!.scalars(as: Bool.self))

        // Binary tensor data: both inputs' bytes in order, the logits answered in binary.
        var bytes = Data()
        for value in features.flatMap({ $0 }) { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        for value in offsets { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        let header = try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "features", "datatype": "FP32", "shape": [3, 4], "parameters": ["binary_data_size": 48]],
                       ["name": "offset", "datatype": "INT64", "shape": [3, 1], "parameters": ["binary_data_size": 24]]],
            "outputs": [["name": "logits", "parameters": ["binary_data": true]], ["name": "best"]],
        ])
        let binary = try await server.raw("POST", "/v2/models/pair/infer", body: header + bytes,
                                          headers: ["Inference-Header-Content-Length": "\(header.count)"])
        XCTAssertEqual(binary.status, 200, String(decoding: binary.data, as: UTF8.self))
        let length = try XCTUnwrap(binary.headers["inference-header-content-length"].flatMap { Int($0) })
        let logits = binary.data.dropFirst(length).withUnsafeBytes { raw in
            (0..<9).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))) }
        }
        XCTAssertEqual(logits, expected["logits"]!.doubles)
        let binaryOutputs = (try JSONSerialization.jsonObject(with: binary.data.prefix(length)) as? [String: Any])?["outputs"] as? [[String: Any]]
        XCTAssertEqual(binaryOutputs?.map { $0["name"] as? String }, ["logits", "best"])
        XCTAssertEqual(binaryOutputs?[1]["data"] as? [Int], expected["best"]!.scalars(as: Int64.self).map(Int.init))

        // A model without a batch axis takes and gives whole tensors.
        let fixed = try await server.post("/v2/models/fixed/infer", ["inputs": [["name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]]]])
        XCTAssertEqual(fixed.status, 200, fixed.text)
        let y = ((fixed.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first
        XCTAssertEqual(y?["shape"] as? [Int], [2, 3])
        assertClose(y?["data"], [3, 5, 7, 9, 11, 13])
    }

    func testPredictRowsAndColumnsWithNamedInputs() async throws {
        let expected = try direct()
        let logits = expected["logits"]!.doubles, best = expected["best"]!.scalars(as: Int64.self).map(Int.init)
        let rows = try await server.post("/v1/models/pair:predict", ["instances": (0..<3).map { ["features": features[$0], "offset": [Int(offsets[$0])]] }])
        XCTAssertEqual(rows.status, 200, rows.text)
        let predictions = (rows.json as? [String: Any])?["predictions"] as? [[String: Any]] ?? []
        XCTAssertEqual(predictions.count, 3)
        assertClose(predictions.flatMap { $0["logits"] as? [Double] ?? [] }, logits)
        XCTAssertEqual(predictions.map { $0["best"] as? Int }, best)
        XCTAssertEqual(predictions.map { $0["confident"] as? Bool }, expected["confident"]!.scalars(as: Bool.self))

        let columns = try await server.post("/v1/models/pair:predict", ["inputs": ["features": features, "offset": offsets.map { [Int($0)] }]])
        XCTAssertEqual(columns.status, 200, columns.text)
        let outputs = (columns.json as? [String: Any])?["outputs"] as? [String: Any]
        assertClose((outputs?["logits"] as? [[Double]])?.flatMap { $0 }, logits)
        XCTAssertEqual(outputs?["best"] as? [Int], best)

        let fixed = try await server.post("/v1/models/fixed:predict", ["inputs": [[1, 2, 3], [4, 5, 6]]])
        XCTAssertEqual(fixed.status, 200, fixed.text)
        assertClose(((fixed.json as? [String: Any])?["outputs"] as? [[Double]])?.flatMap { $0 }, [3, 5, 7, 9, 11, 13])
    }

    /// Concurrent one-row requests become one forward, each answered with its own row.
    func testConcurrentRequestsAreBatchedAlongTheBatchAxis() async throws {
        var configuration = ServeConfiguration(modelDirectory: repository)
        configuration.batching = BatchingPolicy(maxBatchSize: 3, maxQueueDelay: .seconds(5))
        let batching = try await RunningServer(configuration)
        let expected = try direct()["logits"]!
        let features = self.features, offsets = self.offsets
        let answers = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
            for row in 0..<3 {
                group.addTask {
                    let answer = try await batching.post("/v2/models/pair/infer", ["inputs": [
                        ["name": "features", "datatype": "FP32", "shape": [1, 4], "data": features[row]],
                        ["name": "offset", "datatype": "INT64", "shape": [1, 1], "data": [Int(offsets[row])]]]])
                    let logits = ((answer.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "logits" }
                    return (row, logits?["data"] as? [Double] ?? [])
                }
            }
            var answers = [[Double]](repeating: [], count: 3)
            for try await (row, values) in group { answers[row] = values }
            return answers
        }
        for row in 0..<3 { assertClose(answers[row], expected[row].doubles) }
        let metrics = try await batching.get("/metrics").text
        XCTAssertTrue(metrics.contains(#"ember_serve_batch_size_examples_count{model="pair"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"ember_serve_batch_size_examples_sum{model="pair"} 3"#), metrics)
        await batching.stop()
    }

    func testRequestsThatDoNotFitTheGraphAreRefusedNamingTheField() async throws {
        func refusal(_ path: String, _ body: Any) async throws -> String {
            let answer = try await server.post(path, body)
            XCTAssertEqual(answer.status, 400, answer.text)
            return (answer.json as? [String: Any])?["error"] as? String ?? answer.text
        }
        let features: [String: Any] = ["name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]]
        let offset: [String: Any] = ["name": "offset", "datatype": "INT64", "shape": [1, 1], "data": [1]]
        var message = try await refusal("/v2/models/pair/infer", ["inputs": [features]])
        XCTAssertEqual(message, "inputs: has no tensor named 'offset'; the model's inputs: 'features', 'offset'")
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features, offset.merging(["name": "bias"]) { $1 }]])
        XCTAssertTrue(message.hasPrefix("inputs[1].name: 'bias' is not an input of the model"), message)
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features, offset.merging(["datatype": "FP32"]) { $1 }]])
        XCTAssertEqual(message, "inputs[1].datatype: is FP32; the model's input 'offset' is INT64")
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features.merging(["shape": [1, 2, 2]]) { $1 }, offset]])
        XCTAssertEqual(message, "inputs[0].shape: has shape [1, 2, 2]; the model's input 'features' is [-1, 4] (-1: any size)")
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features, offset.merging(["shape": [2, 1], "data": [1, 2]]) { $1 }]])
        XCTAssertEqual(message, "inputs[1].shape: has batch size 2; 'features' has 1 (every input's first size is the batch)")
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features, offset.merging(["data": [1.5]]) { $1 }]])
        XCTAssertTrue(message.hasPrefix("inputs[1].data[0]: is 1.5; input 'offset' is INT64, whole numbers"), message)
        message = try await refusal("/v2/models/pair/infer", ["inputs": [features, offset, offset]])
        XCTAssertEqual(message, "inputs[2].name: input 'offset' is given twice")

        message = try await refusal("/v1/models/pair:predict", ["instances": [["features": [1, 2, 3, 4]]]])
        XCTAssertEqual(message, "instances[0]: has no input 'offset'; the model's inputs: 'features', 'offset'")
        message = try await refusal("/v1/models/pair:predict", ["instances": [["features": [[1, 2, 3, 4]], "offset": [1]]]])
        XCTAssertEqual(message, "instances[0].features: has shape [1, 4]; the model's input 'features' is [-1, 4] without the batch, [4] (-1: any size)")
        message = try await refusal("/v1/models/pair:predict", ["inputs": ["features": [[1, 2, 3, 4], [1, 2, 3]], "offset": [[1], [2]]]])
        XCTAssertEqual(message, "inputs.features[1]: has shape [3], the values before it [4]: a tensor's nested arrays are all the same size")
        message = try await refusal("/v1/models/pair:predict", ["inputs": ["features": [[1, 2, 3, 4]], "offset": [[true]]]])
        XCTAssertEqual(message, "inputs.offset[0][0]: must be a number, got a boolean")
        message = try await refusal("/v1/models/pair:classify", ["examples": [["features": [1, 2, 3, 4]]]])
        XCTAssertTrue(message.contains("is not a classifier"), message)

        message = try await refusal("/v1/models/fixed:predict", ["instances": [[1, 2, 3]]])
        XCTAssertTrue(message.hasPrefix("instances: the model's inputs have no batch axis"), message)
        message = try await refusal("/v2/models/fixed/infer", ["inputs": [["name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]]]])
        XCTAssertEqual(message, "inputs[0].shape: has shape [1, 3]; the model's input 'x' is [2, 3] (-1: any size)")
    }

    /// `ids` [batch, sequence] INT64 looked up in a 5-row table, times `mask` [batch, sequence, 1]:
    /// two inputs that share an open axis besides the batch, and indices read from the request.
    static func writeLookupModel(to folder: URL) throws {
        manualSeed(5)
        let table = Embedding(5, 2)
        let proto = try ONNXExporter.exportInEvaluationMode(table) {
            try ONNXExporter.export(inputs: [ONNXInput("ids", [1, 3], .int64, dynamicAxes: [0: "batch", 1: "sequence"]),
                                             ONNXInput("mask", [1, 3, 1], dynamicAxes: [0: "batch", 1: "sequence"])],
                                    outputs: ["pooled"], parameters: ONNXExporter.stateNames(table)) { v in
                [(table(v[0]) * v[1]).sum(axis: 1)]
            }
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ONNXExporter.write(proto, to: folder.appendingPathComponent("model.onnx"))
    }

    /// Requests whose values or open sizes the graph's operations refuse (lengths that differ
    /// between inputs, an id beyond the table) get a 400 naming the operation, eagerly and once
    /// the shapes run compiled, and the server goes on answering.
    func testWhatTheGraphsOperationsRefuseFailsTheRequestNotTheServer() async throws {
        try Self.writeLookupModel(to: repository.appendingPathComponent("lookup/1"))
        await server.stop()
        server = try await RunningServer(ServeConfiguration(modelDirectory: repository))
        func infer(_ ids: [Int64], _ mask: [Float]) async throws -> (status: Int, text: String) {
            let answer = try await server.post("/v2/models/lookup/infer", ["inputs": [
                ["name": "ids", "datatype": "INT64", "shape": [1, ids.count], "data": ids],
                ["name": "mask", "datatype": "FP32", "shape": [1, mask.count, 1], "data": mask]]])
            return (answer.status, answer.text)
        }
        var answer = try await infer([1, 2, 3], [1, 1, 1, 1])
        XCTAssertEqual(answer.status, 400, answer.text)
        XCTAssertTrue(answer.text.contains("(Mul): mul:"), answer.text)
        answer = try await infer([1, 7, 3], [1, 1, 0])
        XCTAssertEqual(answer.status, 400, answer.text)
        XCTAssertTrue(answer.text.contains("index 7 is out of range for an axis of size 5"), answer.text)
        // These shapes now run compiled: the ids are still checked on every call.
        answer = try await infer([1, 2, 3], [1, 1, 0])
        XCTAssertEqual(answer.status, 200, answer.text)
        answer = try await infer([4, 9, 0], [1, 1, 1])
        XCTAssertEqual(answer.status, 400, answer.text)
        XCTAssertTrue(answer.text.contains("index 9 is out of range for an axis of size 5"), answer.text)
        answer = try await infer([4, 4, 0], [1, 0, 1])
        XCTAssertEqual(answer.status, 200, answer.text)
    }

    /// INT64 values beyond 2^53, which a Double rounds, pass through both protocols exactly:
    /// JSON in and out, and binary tensor data in and out.
    func testInt64ValuesBeyondTwoToThe53AreExact() async throws {
        let folder = repository.appendingPathComponent("twice/1")
        let proto = try ONNXExporter.export(inputs: [ONNXInput("ids", [1, 2], .int64, dynamicAxes: [0: "batch"])], outputs: ["twice"]) { v in
            [v[0] + v[0]]
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ONNXExporter.write(proto, to: folder.appendingPathComponent("model.onnx"))
        await server.stop()
        server = try await RunningServer(ServeConfiguration(modelDirectory: repository))

        let big: Int64 = (1 << 53) + 1, negative: Int64 = -(1 << 60) - 3
        var answer = try await server.post("/v2/models/twice/infer", ["inputs": [
            ["name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [NSNumber(value: big), NSNumber(value: negative)]]]])
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertTrue(answer.text.contains("[\(2 * big),\(2 * negative)]"), answer.text)
        answer = try await server.post("/v1/models/twice:predict", ["instances": [[NSNumber(value: big), NSNumber(value: negative)]]])
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertTrue(answer.text.contains("[[\(2 * big),\(2 * negative)]]"), answer.text)

        // Binary in and out (Triton's extension): the exact bytes.
        var raw: [UInt8] = []
        for value in [big, negative] { withUnsafeBytes(of: value.littleEndian) { raw += $0 } }
        let header = try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "ids", "datatype": "INT64", "shape": [1, 2], "parameters": ["binary_data_size": 16]]],
            "outputs": [["name": "twice", "parameters": ["binary_data": true]]]])
        let reply = try await server.raw("POST", "/v2/models/twice/infer", body: header + Data(raw),
                                         headers: ["Inference-Header-Content-Length": "\(header.count)"])
        XCTAssertEqual(reply.status, 200)
        let tail = Array(reply.data.suffix(16))
        let values = (0..<2).map { i in tail[(i * 8)..<(i * 8 + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        XCTAssertEqual(values.map { Int64(bitPattern: $0) }, [2 * big, 2 * negative])
    }

    /// The served answers agree with onnxruntime's on the same file (skipped without EMBER_PYTHON).
    func testAnswersAgreeWithOnnxruntime() async throws {
        guard let python = ProcessInfo.processInfo.environment["EMBER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set EMBER_PYTHON to a Python with onnxruntime (scripts/python-env.sh prints one) to compare served answers with onnxruntime's")
        }
        let script = """
        import json, sys, numpy, onnxruntime
        session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        feeds = json.loads(sys.argv[2])
        outputs = session.run(None, {"features": numpy.array(feeds["features"], numpy.float32), "offset": numpy.array(feeds["offset"], numpy.int64)})
        print(json.dumps({output.name: value.tolist() for output, value in zip(session.get_outputs(), outputs)}))
        """
        let feeds = try JSONSerialization.data(withJSONObject: ["features": features, "offset": offsets.map { [Int($0)] }])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, repository.appendingPathComponent("pair/1/model.onnx").path, String(decoding: feeds, as: UTF8.self)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let printed = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: printed) as? [String: Any])

        let answer = try await server.post("/v1/models/pair:predict", ["inputs": ["features": features, "offset": offsets.map { [Int($0)] }]])
        let outputs = (answer.json as? [String: Any])?["outputs"] as? [String: Any]
        assertClose((outputs?["logits"] as? [[Double]])?.flatMap { $0 }, (reference["logits"] as? [[Double]] ?? []).flatMap { $0 })
        XCTAssertEqual(outputs?["best"] as? [Int], reference["best"] as? [Int])
        XCTAssertEqual(outputs?["confident"] as? [Bool], reference["confident"] as? [Bool])
    }
}
