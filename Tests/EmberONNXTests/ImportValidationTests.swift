import Ember
import EmberIO
@testable import EmberONNX
import Foundation
import XCTest

/// What the importer refuses, with one clear error, before anything runs.
final class ImportValidationTests: XCTestCase {
    private func relu() -> ONNXTestGraph {
        var graph = ONNXTestGraph()
        graph.input("x", .float, [-1, 3])
        graph.node("Relu", ["x"], ["y"])
        graph.output("y")
        return graph
    }

    func testAValidGraphRunsAndChecksItsInputs() throws {
        let model = try relu().load()
        let y = try model(["x": Tensor([Float(-1), 2, -3, 4, 5, -6], shape: [2, 3])])["y"]!
        XCTAssertEqual(y.floats, [0, 2, 0, 4, 5, 0])
        XCTAssertThrowsError(try model.run([Tensor.zeros([2, 4])])) { error in
            XCTAssertEqual("\(error)", "ONNX node 'graph' (input): input 'x' must have shape [n, 3], got [2, 4]")
        }
        XCTAssertThrowsError(try model.run([Tensor.zeros([2, 3], dtype: .int64)])) { error in
            XCTAssertTrue("\(error)".contains("must be float32, got int64"), "\(error)")
        }
        XCTAssertThrowsError(try model(["z": Tensor.zeros([1, 3])])) { error in
            XCTAssertTrue("\(error)".contains("no graph input named z"), "\(error)")
        }
    }

    func testUnsupportedOperatorsAreReportedAllAtOnce() {
        var graph = relu()
        graph.node("FancyOp", ["y"], ["a"], name: "first")
        graph.node("Relu", ["a"], ["b"])
        graph.node("Inverse", ["b"], ["c"], name: "second")
        var node = Onnx_NodeProto()
        node.opType = "FusedGemm"
        node.domain = "com.microsoft"
        node.name = "third"
        node.input = ["c"]
        node.output = ["d"]
        graph.model.graph.node.append(node)
        let problem = loadingProblem { try graph.load() }
        XCTAssertTrue(problem.hasPrefix("unsupported operators: FancyOp (node 'first', opset 17); Inverse (node 'second', opset 17); com.microsoft.FusedGemm (node 'third', opset ?)"), problem)
    }

    func testOpsetsPickTheirConverter() throws {
        // Softmax before opset 13 flattens from axis 1; from 13 it works along the last axis.
        let x = Tensor([Float(1), 2, 3, 4], shape: [1, 2, 2])
        var results = [[Float]]()
        for opset: Int64 in [11, 13] {
            var graph = ONNXTestGraph(opset: opset)
            graph.input("x", .float, [1, 2, 2])
            graph.node("Softmax", ["x"], ["y"])
            graph.output("y")
            results.append(try graph.load().run([x])[0].floats)
        }
        XCTAssertEqual(results[0].reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(results[1].reduce(0, +), 2, accuracy: 1e-6)
    }

    func testMissingValuesAndCyclesAreRefused() {
        var missing = relu()
        missing.node("Add", ["y", "bias"], ["z"], name: "add")
        XCTAssertEqual(loadingProblem { try missing.load() },
                       "node 'add' (Add) reads 'bias', which no node, graph input or initializer provides")

        var cycle = ONNXTestGraph()
        cycle.input("x", .float, [1])
        cycle.node("Add", ["x", "b"], ["a"], name: "one")
        cycle.node("Relu", ["a"], ["b"], name: "two")
        cycle.output("b")
        XCTAssertEqual(loadingProblem { try cycle.load() }, "the graph has a cycle through nodes 'one', 'two'")

        var twice = relu()
        twice.node("Relu", ["x"], ["y"])
        XCTAssertTrue(loadingProblem { try twice.load() }.contains("'y' is defined twice"))

        var noOutput = relu()
        noOutput.output("nowhere")
        XCTAssertEqual(loadingProblem { try noOutput.load() }, "graph output 'nowhere' is not computed by any node, input or initializer")
    }

    func testBadInitializersAreRefused() {
        var short = relu()
        short.initializer(ONNXTestGraph.tensor("w", floats: [1, 2, 3], dims: [2, 2]))
        XCTAssertEqual(loadingProblem { try short.load() }, "holds 3 values, but dims [2, 2] need 4")

        var absurd = relu()
        absurd.initializer(ONNXTestGraph.tensor("w", floats: [], dims: [1 << 40, 1 << 40]))
        XCTAssertTrue(loadingProblem { try absurd.load() }.contains("hold more than"))

        var negative = relu()
        negative.initializer(ONNXTestGraph.tensor("w", floats: [], dims: [-1]))
        XCTAssertEqual(loadingProblem { try negative.load() }, "has a negative dimension -1 in dims [-1]")

        var raw = relu()
        var proto = ONNXTestGraph.tensor("w", floats: [], dims: [3])
        proto.rawData = Data(count: 8)
        raw.initializer(proto)
        XCTAssertEqual(loadingProblem { try raw.load() }, "raw_data holds 8 bytes, but dims [3] of float need 12")

        var strings = relu()
        var text = Onnx_TensorProto()
        text.name = "words"
        text.dataType = Int32(Onnx_TensorProto.DataType.string.rawValue)
        strings.initializer(text)
        XCTAssertTrue(loadingProblem { try strings.load() }.hasPrefix("has element type string, which Ember cannot hold"))
    }

    func testUnsupportedTypesAreReportedAllAtOnce() {
        var graph = ONNXTestGraph()
        graph.input("words", .string, [2])
        graph.input("big", .uint64, [2])
        graph.node("Identity", ["words"], ["y"])
        graph.output("y", .string)
        XCTAssertEqual(loadingProblem { try graph.load() },
                       "unsupported types: input 'words' has element type string; input 'big' has element type uint64; output 'y' has element type string")
    }

    func testInitializersAreParametersAndIntegerOnesConstants() throws {
        var graph = ONNXTestGraph()
        graph.input("x", .float, [2, 2])
        graph.initializer(ONNXTestGraph.tensor("layer.weight", floats: [1, 2, 3, 4], dims: [2, 2]))
        graph.initializer(ONNXTestGraph.tensor("shape", ints: [4], dims: [1]))
        graph.node("MatMul", ["x", "layer.weight"], ["h"])
        graph.node("Reshape", ["h", "shape"], ["y"])
        graph.output("y")
        let model = try graph.load()
        XCTAssertEqual(model.stateKeys(), ["layer.weight"])
        XCTAssertTrue(model.namedParameters()[0].1.requiresGrad)
        XCTAssertEqual(try model.run([Tensor.eye(2)])[0].floats, [1, 2, 3, 4])
        // A loaded state dict replaces the weights.
        try model.loadStateDict(["layer.weight": Tensor([Float(0), 1, 1, 0], shape: [2, 2])])
        XCTAssertEqual(try model.run([Tensor.eye(2)])[0].floats, [0, 1, 1, 0])
    }

    func testExternalDataIsReadFromBesideTheModelOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let values: [Float] = [0.5, -1, 2, 4]
        var bytes = Data(count: 16)  // an offset of 16 bytes, then the values
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        try bytes.write(to: directory.appendingPathComponent("weights.bin"))

        func model(location: String, offset: String = "16", length: String = "16") -> ONNXTestGraph {
            var graph = ONNXTestGraph()
            graph.input("x", .float, [4])
            var proto = Onnx_TensorProto()
            proto.name = "w"
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.dims = [4]
            proto.dataLocation = .external
            proto.externalData = [("location", location), ("offset", offset), ("length", length)].map { key, value in
                var entry = Onnx_StringStringEntryProto()
                entry.key = key
                entry.value = value
                return entry
            }
            graph.initializer(proto)
            graph.node("Mul", ["x", "w"], ["y"])
            graph.output("y")
            return graph
        }
        let path = directory.appendingPathComponent("model.onnx").path
        let loaded = try model(location: "weights.bin").load(path: path)
        XCTAssertEqual(try loaded.run([Tensor.ones([4])])[0].floats, values)
        XCTAssertEqual(loadingProblem { try model(location: "../weights.bin").load(path: path) },
                       "external data location '../weights.bin' must be a relative path inside the model's folder")
        XCTAssertEqual(loadingProblem { try model(location: "/etc/passwd").load(path: path) },
                       "external data location '/etc/passwd' must be a relative path inside the model's folder")
        XCTAssertEqual(loadingProblem { try model(location: "weights.bin", offset: "24").load(path: path) },
                       "16 bytes at offset 24 run past the end of the file (32 bytes)")
        XCTAssertEqual(loadingProblem { try model(location: "missing.bin").load(path: path) }, "external data file cannot be opened")
    }

    func testShapeArithmeticIsEvaluatedAheadUnderCompile() throws {
        // y = reshape(x, concat(shape(x)[0], -1)): the shape comes from Shape, so compile works.
        var graph = ONNXTestGraph()
        graph.input("x", .float, [-1, 2, 3])
        graph.initializer(ONNXTestGraph.tensor("zero", ints: [0], dims: [1]))
        graph.initializer(ONNXTestGraph.tensor("rest", ints: [-1], dims: [1]))
        graph.node("Shape", ["x"], ["s"])
        graph.node("Gather", ["s", "zero"], ["batch"])
        graph.node("Concat", ["batch", "rest"], ["target"], attributes: [ONNXTestGraph.attribute("axis", int: 0)])
        graph.node("Reshape", ["x", "target"], ["y"])
        graph.output("y")
        let model = try graph.load()
        let x = Tensor.randomNormal([4, 2, 3], key: Tensor.randomKey(0))
        let compiled = compile({ model($0) })
        XCTAssertEqual(compiled([x])[0].shape, [4, 6])
        XCTAssertEqual(compiled([x])[0].floats, x.floats)
        // A shape taken from the input's values cannot be traced: the error says so.
        var dataDependent = ONNXTestGraph()
        dataDependent.input("x", .float, [6])
        dataDependent.input("shape", .int64, [2])
        dataDependent.node("Reshape", ["x", "shape"], ["y"], name: "reshape")
        dataDependent.output("y")
        let eager = try dataDependent.load()
        XCTAssertEqual(try eager.run([Tensor.zeros([6]), Tensor([Int64(2), 3])])[0].shape, [2, 3])
        var traced: Error?
        _ = trace([TensorSpec([6], .float32), TensorSpec([2], .int64)]) { inputs in
            do { return try eager.run(inputs) } catch { traced = error; return [inputs[0]] }
        }
        XCTAssertTrue("\(traced.map { "\($0)" } ?? "")".contains("depends on the graph's input values"), "\(String(describing: traced))")
    }
}
