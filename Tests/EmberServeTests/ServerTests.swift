import Ember
import EmberData
import EmberRuns
@testable import EmberServe
import Foundation
import XCTest

/// The real server on a loopback port, spoken to over HTTP: both protocols' endpoints, their
/// answers against the `Predictor` library, and every refusal naming its field.
final class ServerTests: XCTestCase {
    private var repository: URL!
    private var server: RunningServer!

    override func setUp() async throws {
        repository = try temporaryDirectory()
        try TestRuns.write(TestRuns.features, to: repository.appendingPathComponent("tabular/1"))
        try TestRuns.write(TestRuns.image, to: repository.appendingPathComponent("shapes/7"))
        try TestRuns.write(TestRuns.text, to: repository.appendingPathComponent("sentiment/1"))
        server = try await RunningServer(ServeConfiguration(modelDirectory: repository))
    }

    override func tearDown() async throws {
        await server?.stop()
        try? FileManager.default.removeItem(at: repository)
    }

    private func predictor(_ path: String) throws -> Predictor {
        try Predictor(run: repository.appendingPathComponent(path))
    }

    private func assertClose(_ actual: Any?, _ expected: [Float], file: StaticString = #filePath, line: UInt = #line) {
        guard let values = actual as? [Double] else { return XCTFail("not numbers: \(String(describing: actual))", file: file, line: line) }
        XCTAssertEqual(values.count, expected.count, file: file, line: line)
        for (a, b) in zip(values, expected) { XCTAssertEqual(a, Double(b), accuracy: 1e-6, file: file, line: line) }
    }

    func testTensorFlowServingStatusAndMetadata() async throws {
        let status = try await server.get("/v1/models/tabular")
        XCTAssertEqual(status.status, 200)
        let versions = (status.json as? [String: Any])?["model_version_status"] as? [[String: Any]]
        XCTAssertEqual(versions?.first?["version"] as? String, "1")
        XCTAssertEqual(versions?.first?["state"] as? String, "AVAILABLE")
        try await server.expect("/v1/models/shapes/versions/7", status: 200)
        try await server.expect("/v1/models/shapes/versions/8", status: 404)

        let metadata = try await server.get("/v1/models/shapes/metadata")
        XCTAssertEqual(metadata.status, 200, metadata.text)
        let signature = (((metadata.json as? [String: Any])?["metadata"] as? [String: Any])?["signature_def"] as? [String: Any])
            .flatMap { ($0["signature_def"] as? [String: Any])?["serving_default"] as? [String: Any] }
        let image = (signature?["inputs"] as? [String: Any])?["image"] as? [String: Any]
        XCTAssertEqual(image?["dtype"] as? String, "DT_FLOAT")
        let dims = ((image?["tensor_shape"] as? [String: Any])?["dim"] as? [[String: Any]])?.compactMap { $0["size"] as? String }
        XCTAssertEqual(dims, ["-1", "1", "4", "4"])
    }

    func testPredictRowsAndColumnsMatchThePredictor() async throws {
        let rows: [[Float]] = [[1, 2, 3], [-4, 0.5, 9], [0, 0, 0]]
        let expected = try predictor("tabular/1").classify(rows: rows)
        let rowAnswer = try await server.post("/v1/models/tabular:predict", ["instances": rows])
        XCTAssertEqual(rowAnswer.status, 200, rowAnswer.text)
        let predictions = (rowAnswer.json as? [String: Any])?["predictions"] as? [[String: Any]] ?? []
        XCTAssertEqual(predictions.count, 3)
        for (prediction, want) in zip(predictions, expected) {
            assertClose(prediction["probabilities"], want.probabilities)
            XCTAssertEqual(prediction["label"] as? String, want.label)
        }
        // Named features, the columnar format and a pinned version answer the same.
        let named = try await server.post("/v1/models/tabular/versions/1:predict", ["instances": [["a": 1, "b": 2, "c": 3]]])
        assertClose(((named.json as? [String: Any])?["predictions"] as? [[String: Any]])?.first?["probabilities"], expected[0].probabilities)
        let columns = try await server.post("/v1/models/tabular:predict", ["inputs": ["a": [1, -4, 0], "b": [2, 0.5, 0], "c": [3, 9, 0]]])
        XCTAssertEqual(columns.status, 200, columns.text)
        let outputs = (columns.json as? [String: Any])?["outputs"] as? [String: Any]
        XCTAssertEqual(outputs?["label"] as? [String], expected.map(\.label))
        assertClose((outputs?["probabilities"] as? [Any])?[1], expected[1].probabilities)
    }

    func testClassifyAnswersLabelsMostLikelyFirst() async throws {
        let expected = try predictor("sentiment/1").classify(texts: ["great film", "dull"])
        let answer = try await server.post("/v1/models/sentiment:classify", ["examples": [["text": "great film"], ["text": "dull"]]])
        XCTAssertEqual(answer.status, 200, answer.text)
        let results = (answer.json as? [String: Any])?["results"] as? [[[Any]]] ?? []
        XCTAssertEqual(results.count, 2)
        for (result, want) in zip(results, expected) {
            XCTAssertEqual(result.first?.first as? String, want.label)
            XCTAssertEqual(result.first?.last as? Double ?? -1, Double(want.probabilities.max()!), accuracy: 1e-6)
        }
    }

    func testImageBytesAndPixelsAreServedAsTheRunPreparesThem() async throws {
        // An 8x8 RGB PPM, converted to one channel and resized to 4x4 as in training.
        var ppm = Array("P6\n8 8\n255\n".utf8)
        for index in 0..<64 { ppm += [UInt8(index * 4), UInt8(255 - index * 3), UInt8(index % 7 * 30)] }
        let expected = try predictor("shapes/7").classify(images: [try Image(encoded: ppm, source: "test.ppm")])[0]
        let b64 = ["b64": Data(ppm).base64EncodedString()]
        let answer = try await server.post("/v1/models/shapes:predict", ["instances": [b64]])
        XCTAssertEqual(answer.status, 200, answer.text)
        assertClose(((answer.json as? [String: Any])?["predictions"] as? [[String: Any]])?.first?["probabilities"], expected.probabilities)

        // Open Inference Protocol: BYTES of the file, or UINT8 pixels [N, C, H, W].
        let infer = try await server.post("/v2/models/shapes/infer", ["inputs": [["name": "image", "datatype": "BYTES", "shape": [1], "data": [b64["b64"]!]]]])
        XCTAssertEqual(infer.status, 200, infer.text)
        let pixels = (0..<16).map { $0 * 16 }
        let fromPixels = try predictor("shapes/7").classify([try predictor("shapes/7").preprocessing.tensor(pixels: Tensor(pixels.map { Float($0) / 255 }, shape: [1, 4, 4]))])[0]
        let uint8 = try await server.post("/v2/models/shapes/infer", ["id": "r1", "inputs": [["name": "image", "datatype": "UINT8", "shape": [1, 1, 4, 4], "data": pixels]]])
        XCTAssertEqual(uint8.status, 200, uint8.text)
        let body = uint8.json as? [String: Any]
        XCTAssertEqual(body?["id"] as? String, "r1")
        XCTAssertEqual(body?["model_version"] as? String, "7")
        let probabilities = (body?["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "probabilities" }
        XCTAssertEqual(probabilities?["shape"] as? [Int], [1, 3])
        assertClose(probabilities?["data"], fromPixels.probabilities)
    }

    func testInferenceProtocolHealthMetadataAndInfer() async throws {
        try await server.expect("/v2/health/live", status: 200)
        try await server.expect("/v2/health/ready", status: 200)
        try await server.expect("/v2/models/sentiment/ready", status: 200)
        try await server.expect("/v2/models/nothing/ready", status: 404)
        let serverMetadata = try await server.get("/v2")
        XCTAssertEqual((serverMetadata.json as? [String: Any])?["name"] as? String, "ember")
        let metadata = try await server.get("/v2/models/tabular")
        let inputs = (metadata.json as? [String: Any])?["inputs"] as? [[String: Any]]
        XCTAssertEqual(inputs?.first?["name"] as? String, "features")
        XCTAssertEqual(inputs?.first?["shape"] as? [Int], [-1, 3])

        let texts = ["a fine day", "terrible, awful", "ok"]
        let expected = try predictor("sentiment/1").classify(texts: texts)
        let answer = try await server.post("/v2/models/sentiment/infer", ["inputs": [["name": "text", "datatype": "BYTES", "shape": [3], "data": texts]],
                                                                           "outputs": [["name": "label"]]])
        XCTAssertEqual(answer.status, 200, answer.text)
        let outputs = (answer.json as? [String: Any])?["outputs"] as? [[String: Any]]
        XCTAssertEqual(outputs?.count, 1)
        XCTAssertEqual(outputs?.first?["data"] as? [String], expected.map(\.label))
        // Nested data is the same tensor as flat data.
        let nested = try await server.post("/v2/models/tabular/versions/1/infer",
                                           ["inputs": [["name": "features", "datatype": "FP64", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]]]])
        XCTAssertEqual(nested.status, 200, nested.text)
        let probabilities = ((nested.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "probabilities" }
        XCTAssertEqual(probabilities?["shape"] as? [Int], [2, 2])
        let want = try predictor("tabular/1").classify(rows: [[1, 2, 3], [4, 5, 6]])
        assertClose(probabilities?["data"], want.flatMap(\.probabilities))
    }

    /// Triton's binary tensor data extension, tritonclient's default: inputs and outputs as raw
    /// little-endian bytes after a JSON header.
    func testBinaryTensorDataInAndOut() async throws {
        func binaryRequest(_ json: [String: Any], _ bytes: Data) throws -> (body: Data, headers: [String: String]) {
            let header = try JSONSerialization.data(withJSONObject: json)
            return (header + bytes, ["Inference-Header-Content-Length": "\(header.count)", "Content-Type": "application/octet-stream"])
        }
        func little(_ values: [Float]) -> Data { values.reduce(into: Data()) { data, value in withUnsafeBytes(of: value.bitPattern.littleEndian) { data += $0 } } }

        let rows: [[Float]] = [[1, 2, 3], [4, 5, 6]]
        let (body, headers) = try binaryRequest(["inputs": [["name": "features", "datatype": "FP32", "shape": [2, 3], "parameters": ["binary_data_size": 24]]],
                                                 "outputs": [["name": "probabilities", "parameters": ["binary_data": true]], ["name": "label"]]],
                                                little(rows.flatMap { $0 }))
        let answer = try await server.raw("POST", "/v2/models/tabular/infer", body: body, headers: headers)
        XCTAssertEqual(answer.status, 200, String(decoding: answer.data, as: UTF8.self))
        let jsonLength = try XCTUnwrap(answer.headers["inference-header-content-length"].flatMap { Int($0) })
        let json = try JSONSerialization.jsonObject(with: answer.data.prefix(jsonLength)) as? [String: Any]
        let outputs = try XCTUnwrap(json?["outputs"] as? [[String: Any]])
        XCTAssertEqual((outputs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int, 16)
        XCTAssertNil(outputs[0]["data"])
        let floats = answer.data.dropFirst(jsonLength).withUnsafeBytes { raw in
            (0..<4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        let want = try predictor("tabular/1").classify(rows: rows)
        XCTAssertEqual(floats, want.flatMap(\.probabilities))
        XCTAssertEqual(outputs[1]["data"] as? [String], want.map(\.label))

        // BYTES: each element a 4-byte little-endian length and its UTF-8 bytes.
        let texts = ["a fine day", "terrible, awful"]
        let encoded = texts.reduce(into: Data()) { data, text in
            withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { data += $0 }
            data += Data(text.utf8)
        }
        let (textBody, textHeaders) = try binaryRequest(["inputs": [["name": "text", "datatype": "BYTES", "shape": [2],
                                                                     "parameters": ["binary_data_size": encoded.count]]]], encoded)
        let labels = try await server.raw("POST", "/v2/models/sentiment/infer", body: textBody, headers: textHeaders)
        XCTAssertEqual(labels.status, 200, String(decoding: labels.data, as: UTF8.self))
        let labelOutputs = (try JSONSerialization.jsonObject(with: labels.data) as? [String: Any])?["outputs"] as? [[String: Any]]
        XCTAssertEqual(labelOutputs?.first { $0["name"] as? String == "label" }?["data"] as? [String],
                       try predictor("sentiment/1").classify(texts: texts).map(\.label))

        // Sizes that do not add up are refused naming what is wrong.
        func refusal(_ body: Data, _ headers: [String: String], path: String = "/v2/models/tabular/infer") async throws -> String {
            let answer = try await server.raw("POST", path, body: body, headers: headers)
            XCTAssertEqual(answer.status, 400)
            return String(decoding: answer.data, as: UTF8.self)
        }
        var tooLong = headers
        tooLong["Inference-Header-Content-Length"] = "\(body.count + 1)"
        let refused1 = try await refusal(body, tooLong)
        XCTAssertTrue(refused1.contains("Inference-Header-Content-Length: must be a whole number"), refused1)
        let (short, shortHeaders) = try binaryRequest(["inputs": [["name": "features", "datatype": "FP32", "shape": [2, 3], "parameters": ["binary_data_size": 20]]]],
                                                      little([1, 2, 3, 4, 5]))
        let refused2 = try await refusal(short, shortHeaders)
        XCTAssertTrue(refused2.contains("20 bytes of binary data; 6 FP32 values take 24"), refused2)
        let (lying, lyingHeaders) = try binaryRequest(["inputs": [["name": "features", "datatype": "FP32", "shape": [2, 3], "parameters": ["binary_data_size": 4]]]],
                                                      little([1, 2, 3, 4, 5, 6]))
        let refused3 = try await refusal(lying, lyingHeaders)
        XCTAssertTrue(refused3.contains("inputs[0] (binary data): 4 bytes of binary data; 6 FP32 values take 24"), refused3)
        let (unclaimed, unclaimedHeaders) = try binaryRequest(["inputs": [["name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]]]],
                                                              little([1]))
        let refused4 = try await refusal(unclaimed, unclaimedHeaders)
        XCTAssertTrue(refused4.contains("inputs: 4 bytes of binary data are left after"), refused4)
        let refused5 = try await refusal(body, headers, path: "/v1/models/tabular:predict")
        XCTAssertTrue(refused5.contains("is for /v2/models/NAME/infer only"), refused5)
    }

    func testBadRequestsAreRefusedNamingTheField() async throws {
        func refusal(_ path: String, _ body: Any) async throws -> (Int, String) {
            let answer = try await server.post(path, body)
            return (answer.status, (answer.json as? [String: Any])?["error"] as? String ?? answer.text)
        }
        var (status, message) = try await refusal("/v1/models/tabular:predict", ["instances": [[1, 2]]])
        XCTAssertEqual(status, 400)
        XCTAssertTrue(message.hasPrefix("instances[0]: must be an array of 3"), message)
        (status, message) = try await refusal("/v1/models/tabular:predict", ["instances": [[1, 2, "x"]]])
        XCTAssertEqual(message, "instances[0][2]: must be a number, got a string")
        (status, message) = try await refusal("/v1/models/tabular:predict", ["instances": [["a": 1, "b": 2]]])
        XCTAssertTrue(message.hasPrefix("instances[0]: has no feature 'c'"), message)
        (status, message) = try await refusal("/v1/models/shapes:predict", ["instances": [["b64": "!!!"]]])
        XCTAssertTrue(message.hasPrefix("instances[0].b64: must be base64"), message)
        (status, message) = try await refusal("/v1/models/shapes:predict", ["instances": [["b64": Data("P6\n9999 9999\n255\n".utf8).base64EncodedString()]]])
        XCTAssertEqual(status, 400)
        XCTAssertTrue(message.hasPrefix("instances[0].b64: is not an image"), message)
        (status, message) = try await refusal("/v1/models/tabular:predict", ["instances": [], "inputs": []])
        XCTAssertTrue(message.contains("not both"), message)
        (status, message) = try await refusal("/v1/models/tabular:predict", ["instances": []])
        XCTAssertEqual(message, "instances: holds no examples")
        (status, message) = try await refusal("/v1/models/tabular:classify", ["examples": [["a": 1, "b": 2, "c": 3]], "signature_name": "other"])
        XCTAssertTrue(message.hasPrefix("signature_name:"), message)
        (status, message) = try await refusal("/v2/models/tabular/infer", ["inputs": [["name": "features", "datatype": "FP32", "shape": [2, 3], "data": [1, 2, 3]]]])
        XCTAssertEqual(message, "inputs[0].data: has 3 values; shape [2, 3] needs 6")
        (status, message) = try await refusal("/v2/models/tabular/infer", ["inputs": [["name": "features", "datatype": "FP8", "shape": [1, 3], "data": [1, 2, 3]]]])
        XCTAssertTrue(message.hasPrefix("inputs[0].datatype: must be one of"), message)
        (status, message) = try await refusal("/v2/models/tabular/infer", ["inputs": [["name": "features", "datatype": "INT32", "shape": [1, 3], "data": [1, 2.5, 3]]]])
        XCTAssertEqual(message, "inputs[0].data[1]: is 2.5; a INT32 tensor holds whole numbers")
        (status, message) = try await refusal("/v2/models/tabular/infer", ["inputs": [["name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]]]])
        XCTAssertTrue(message.hasPrefix("inputs[0].shape: is [1, 4]; the model's input 'features' is [-1, 3]"), message)
        (status, message) = try await refusal("/v2/models/sentiment/infer", ["inputs": [["name": "txt", "datatype": "BYTES", "shape": [1], "data": ["a"]]]])
        XCTAssertTrue(message.hasPrefix("inputs[0].name: must be 'text'"), message)
        (status, message) = try await refusal("/v2/models/sentiment/infer", ["inputs": [["name": "text", "datatype": "BYTES", "shape": [1], "data": [""]]]])
        XCTAssertTrue(message.hasPrefix("inputs[0].data[0]:") && message.contains("no tokens"), message)

        let notJSON = try await server.request("POST", "/v1/models/tabular:predict", body: Data("{\"instances\": [".utf8))
        XCTAssertEqual(notJSON.status, 400)
        XCTAssertTrue(notJSON.text.contains("not valid JSON"), notJSON.text)
        try await server.expect("/v1/models/tabular:predict", status: 405)
        try await server.expect("/v1/models/missing", status: 404)
        try await server.expect("/v1/models/tabular/versions/x", status: 400)
        // No name reaches the file system: an escaping name is just an unknown model.
        try await server.expect("/v1/models/..%2F..%2Fetc", status: 404)
        try await server.expect("/v2/models/../../etc/ready", status: 404)
        try await server.expect("/nothing", status: 404)
    }

    func testMetricsAndOpenAPIDocument() async throws {
        _ = try await server.post("/v1/models/tabular:predict", ["instances": [[1, 2, 3]]])
        _ = try await server.post("/v1/models/tabular:predict", ["instances": [[1, 2]]])
        let metrics = try await server.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        for line in [#"ember_serve_requests_total{model="tabular",endpoint="v1_predict",status="200"} 1"#,
                     #"ember_serve_requests_total{model="tabular",endpoint="v1_predict",status="400"} 1"#,
                     #"ember_serve_batch_size_examples_count{model="tabular"} 1"#,
                     "ember_serve_models_loaded_count 3"] {
            XCTAssertTrue(metrics.text.contains(line), "no \(line) in\n\(metrics.text)")
        }
        let document = try await server.get("/openapi.json")
        XCTAssertEqual((document.json as? [String: Any])?["openapi"] as? String, "3.0.3")
        XCTAssertNotNil(((document.json as? [String: Any])?["paths"] as? [String: Any])?["/v2/models/{name}/infer"])
    }
}
