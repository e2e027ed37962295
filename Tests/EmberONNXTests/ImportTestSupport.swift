import Ember
@testable import EmberONNX
import EmberIO
import Foundation
import XCTest

/// Builds small ONNX models in Swift for the importer's tests.
struct ONNXTestGraph {
    var model = Onnx_ModelProto()

    init(opset: Int64 = 17) {
        model.irVersion = 8
        var entry = Onnx_OperatorSetIdProto()
        entry.version = opset
        model.opsetImport = [entry]
    }

    static func valueInfo(_ name: String, _ type: Onnx_TensorProto.DataType = .float, _ dims: [Int64]?) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(type.rawValue)
        if let dims {
            var shape = Onnx_TensorShapeProto()
            shape.dim = dims.map { size in
                var dim = Onnx_TensorShapeProto.Dimension()
                if size >= 0 { dim.dimValue = size } else { dim.dimParam = "n" }
                return dim
            }
            tensorType.shape = shape
        }
        info.type.tensorType = tensorType
        return info
    }

    mutating func input(_ name: String, _ type: Onnx_TensorProto.DataType = .float, _ dims: [Int64]? = nil) {
        model.graph.input.append(Self.valueInfo(name, type, dims))
    }

    mutating func output(_ name: String, _ type: Onnx_TensorProto.DataType = .float, _ dims: [Int64]? = nil) {
        model.graph.output.append(Self.valueInfo(name, type, dims))
    }

    static func tensor(_ name: String, floats: [Float], dims: [Int64]) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        proto.dims = dims
        proto.floatData = floats
        return proto
    }

    static func tensor(_ name: String, ints: [Int64], dims: [Int64]) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        proto.dims = dims
        proto.int64Data = ints
        return proto
    }

    mutating func initializer(_ proto: Onnx_TensorProto) { model.graph.initializer.append(proto) }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "",
                       attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.input = inputs
        node.output = outputs
        node.name = name
        node.attribute = attributes
        model.graph.node.append(node)
    }

    static func attribute(_ name: String, int value: Int64) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = value
        return attribute
    }

    static func attribute(_ name: String, ints values: [Int64]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values
        return attribute
    }

    static func attribute(_ name: String, string value: String) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }

    func load(path: String = "test.onnx") throws -> ONNXModel { try ONNXModel(model, path: path) }
}

/// The fixtures written by Fixtures/generate_import_fixtures.py.
enum ImportFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func model(_ name: String) throws -> ONNXModel {
        try ONNXModel(contentsOf: directory.appendingPathComponent("\(name).onnx"))
    }

    /// Case key -> (inputs by name, expected outputs by name, other arrays by their rest of key).
    static func cases(_ name: String) throws -> [String: (inputs: [String: Tensor], outputs: [String: Tensor], extra: [String: Tensor])] {
        let arrays = try NumPy.loadArchive(contentsOf: directory.appendingPathComponent("\(name).npz"))
        var cases = [String: (inputs: [String: Tensor], outputs: [String: Tensor], extra: [String: Tensor])]()
        for (key, value) in arrays {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            var entry = cases[parts[0]] ?? ([:], [:], [:])
            switch parts[1] {
            case "input": entry.inputs[parts[2]] = value
            case "output": entry.outputs[parts[2]] = value
            default: entry.extra[parts.dropFirst().joined(separator: ".")] = value
            }
            cases[parts[0]] = entry
        }
        return cases
    }
}

func maxDifference(_ a: Tensor, _ b: Tensor) -> Double {
    XCTAssertEqual(a.shape, b.shape)
    guard a.shape == b.shape else { return .infinity }
    return zip(a.doubles, b.doubles).map { abs($0 - $1) }.max() ?? 0
}

/// The one-line problem of a loading error, for assertions.
func loadingProblem(_ body: () throws -> Any) -> String {
    do {
        _ = try body()
        return "no error"
    } catch let error as FileError {
        return error.problem
    } catch {
        return "\(error)"
    }
}
