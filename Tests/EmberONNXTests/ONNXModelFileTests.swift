import EmberIO
@testable import EmberONNX
import Foundation
import XCTest

final class ONNXModelFileTests: XCTestCase {
    func testWriteThenReadKeepsTheModel() throws {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "Ember"
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        model.opsetImport = [opset]
        var node = Onnx_NodeProto()
        node.opType = "Relu"
        node.input = ["x"]
        node.output = ["y"]
        model.graph.node = [node]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-\(UUID().uuidString).onnx")
        defer { try? FileManager.default.removeItem(at: url) }
        try ONNXModelFile.write(model, to: url)
        XCTAssertEqual(try ONNXModelFile.read(url), model)
    }

    func testBytesThatAreNotAModelGiveAFileError() {
        for bytes in [Data(), Data([0xFF, 0xFF, 0xFF]), Data("hello, world".utf8)] {
            XCTAssertThrowsError(try ONNXModelFile.decode(bytes, path: "bad.onnx")) { error in
                guard let error = error as? FileError else { return XCTFail("\(error) is not a FileError") }
                XCTAssertEqual(error.format, .onnx)
                XCTAssertEqual(error.path, "bad.onnx")
            }
        }
    }
}
