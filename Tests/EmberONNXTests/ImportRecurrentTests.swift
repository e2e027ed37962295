import Ember
@testable import EmberONNX
import Foundation
import XCTest

/// ONNX LSTM and GRU nodes (Fixtures/generate_recurrent_fixtures.py: one-node models, outputs
/// from onnxruntime) run as onnxruntime runs them, eagerly, compiled, under vmap and jvp. An
/// LSTM without peepholes and a GRU with linear_before_reset = 1 take Ember's fused recurrence
/// primitive (sequence_lens included); the other cells are unrolled. Gradients match float64
/// finite differences and the unrolled path.
final class ImportRecurrentTests: XCTestCase {
    /// Models whose nodes run as the fused recurrence primitive (the rest are unrolled).
    static let fused: Set = ["lstm_forward", "lstm_reverse", "lstm_bidirectional_layout1", "lstm_bidirectional_states_only",
                             "gru_forward", "gru_reverse_layout1", "gru_bidirectional"]
    static let unrolled: Set = ["lstm_peepholes", "gru_bidirectional_reset_first", "gru_reverse_reset_first_layout1"]

    static func recurrences(_ graph: Graph) -> Int {
        graph.operations.filter { if case .recurrence = $0.primitive { true } else { false } }.count
    }

    func testNodesMatchOnnxruntimeEagerlyAndCompiled() throws {
        for name in Self.fused.union(Self.unrolled).sorted() {
            let model = try ImportFixtures.model("recurrent/\(name)")
            let function = compile({ model($0) })
            let cases = try ImportFixtures.cases("recurrent/\(name)")
            XCTAssertFalse(cases.isEmpty, name)
            for (key, item) in cases.sorted(by: { $0.key < $1.key }) {
                let outputs = try model(item.inputs)
                XCTAssertEqual(Set(outputs.keys), Set(item.outputs.keys), "\(name) \(key)")
                for (output, expected) in item.outputs {
                    XCTAssertLessThan(maxDifference(outputs[output]!, expected), 1e-5, "\(name) \(key) \(output)")
                }
                let inputs = model.inputs.map { item.inputs[$0.name]! }
                let compiled = noGrad { function(inputs) }
                for (info, value) in zip(model.outputs, compiled) {
                    XCTAssertLessThan(maxDifference(value, item.outputs[info.name]!), 1e-5, "\(name) \(key) \(info.name) compiled")
                }
                let recurrences = Self.recurrences(function.graph(for: inputs))
                if Self.fused.contains(name) {
                    XCTAssertEqual(recurrences, name.contains("bidirectional") ? 2 : 1, "\(name): one fused recurrence per direction")
                } else {
                    XCTAssertEqual(recurrences, 0, "\(name) is unrolled")
                }
            }
        }
    }

    /// vmap over examples with different sequence lengths (each its own mask) equals each
    /// example's onnxruntime outputs.
    func testVmapOverExamplesWithDifferentLengths() throws {
        for name in ["lstm_bidirectional_layout1", "gru_reverse_layout1", "gru_bidirectional"] {
            let model = try ImportFixtures.model("recurrent/\(name)")
            let cases = try ImportFixtures.cases("recurrent/\(name)")
            let keys = ["empty", "unequal", "full"]
            let stacked = model.inputs.map { info in Tensor.stack(keys.map { cases[$0]!.inputs[info.name]! }, axis: 0) }
            let mapped = noGrad { vmap({ model($0) })(stacked) }
            for (info, value) in zip(model.outputs, mapped) {
                let expected = Tensor.stack(keys.map { cases[$0]!.outputs[info.name]! }, axis: 0)
                XCTAssertLessThan(maxDifference(value, expected), 1e-5, "\(name) \(info.name) vmap")
            }
        }
    }

    /// Forward mode agrees with reverse mode: ⟨cotangent, J·v⟩ = ⟨Jᵀ·cotangent, v⟩ for the
    /// floating-point inputs (X and the initial states), with unequal lengths.
    func testJVPAgreesWithVJP() throws {
        for name in ["lstm_reverse", "lstm_bidirectional_layout1", "gru_bidirectional"] {
            let model = try ImportFixtures.model("recurrent/\(name)")
            let item = try ImportFixtures.cases("recurrent/\(name)")["unequal"]!
            let floating = model.inputs.filter { $0.name != "sequence_lens" }.map(\.name)
            let lengths = item.inputs["sequence_lens"]!
            func outputs(_ xs: [Tensor]) -> [Tensor] {
                var feeds = Dictionary(uniqueKeysWithValues: zip(floating, xs))
                feeds["sequence_lens"] = lengths
                return model(model.inputs.map { feeds[$0.name]! })
            }
            let primals = floating.map { item.inputs[$0]! }
            let tangents = primals.enumerated().map { Tensor.randomNormal($1.shape, key: Tensor.randomKey(UInt64(10 + $0))) }
            let cotangents = model.outputs.enumerated().map { k, _ in
                Tensor.randomNormal(item.outputs[model.outputs[k].name]!.shape, key: Tensor.randomKey(UInt64(20 + k)))
            }
            let forward = jvp(outputs, primals: primals, tangents: tangents)
            let forwardProduct = zip(forward.tangents, cotangents).map { ($0 * $1).sum().item() }.reduce(0, +)
            let pullback = vjp({ xs in zip(outputs(xs), cotangents).map { ($0 * $1).sum() }.reduce(Tensor.scalar(0), +) }, primals).pullback
            let reverseProduct = zip(pullback(Tensor.scalar(1)), tangents).map { ($0 * $1).sum().item() }.reduce(0, +)
            XCTAssertEqual(forwardProduct, reverseProduct, accuracy: 1e-4 * max(1, abs(reverseProduct)), name)
        }
    }

    // MARK: Gradients (float64 models with every operand a graph input)

    /// One LSTM or GRU node whose operands (ONNX slot order, "" where omitted) are all graph inputs.
    func node(_ op: String, _ operands: [String], direction: String, layout: Int = 0, linearBeforeReset: Int = 1) throws -> ONNXModel {
        var graph = ONNXTestGraph(opset: 14)
        for name in operands where !name.isEmpty { graph.input(name, name == "sequence_lens" ? .int32 : .double) }
        let outputs = op == "LSTM" ? ["Y", "Y_h", "Y_c"] : ["Y", "Y_h"]
        for name in outputs { graph.output(name, .double) }
        var attributes = [ONNXTestGraph.attribute("direction", string: direction), ONNXTestGraph.attribute("layout", int: Int64(layout))]
        if op == "GRU" { attributes.append(ONNXTestGraph.attribute("linear_before_reset", int: Int64(linearBeforeReset))) }
        graph.node(op, operands, outputs, name: op.lowercased(), attributes: attributes)
        return try graph.load()
    }

    /// Random float64 operands for `node`'s inputs (lengths fixed), 4 units, 3 inputs, 5 steps, batch 4.
    func operands(_ model: ONNXModel, gates: Int, directions d: Int, layout: Int, seed: UInt64) -> [String: Tensor] {
        let (steps, batch, hidden, input) = (5, 4, 4, 3)
        let shapes: [String: [Int]] = [
            "X": layout == 1 ? [batch, steps, input] : [steps, batch, input], "W": [d, gates * hidden, input],
            "R": [d, gates * hidden, hidden], "B": [d, 2 * gates * hidden], "P": [d, 3 * hidden],
            "initial_h": layout == 1 ? [batch, d, hidden] : [d, batch, hidden],
            "initial_c": layout == 1 ? [batch, d, hidden] : [d, batch, hidden],
        ]
        var values = [String: Tensor]()
        for (k, info) in model.inputs.enumerated() where info.name != "sequence_lens" {
            values[info.name] = Tensor.randomNormal(shapes[info.name]!, key: Tensor.randomKey(seed + UInt64(k)), std: 0.7, dtype: .float64)
        }
        values["sequence_lens"] = Tensor([Int32(5), 2, 4, 0], shape: [4])
        return values
    }

    /// A scalar of every output, each weighted by fixed random numbers, as a function of the
    /// floating-point inputs in declaration order.
    func loss(_ model: ONNXModel, _ fixed: [String: Tensor], run: @escaping ([Tensor]) -> [Tensor]) -> ([Tensor]) -> Tensor {
        let names = model.inputs.map(\.name).filter { $0 != "sequence_lens" }
        return { xs in
            var feeds = fixed
            for (name, x) in zip(names, xs) { feeds[name] = x }
            let outputs = run(model.inputs.map { feeds[$0.name]! })
            return outputs.enumerated().map { k, y in
                (y * Tensor.randomNormal(y.shape, key: Tensor.randomKey(UInt64(100 + k)), dtype: .float64)).sum()
            }.reduce(Tensor.scalar(0, dtype: .float64), +)
        }
    }

    func testGradientsMatchFiniteDifferences() throws {
        let specs: [(op: String, direction: String, layout: Int, operands: [String])] = [
            ("LSTM", "bidirectional", 1, ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c"]),
            ("LSTM", "reverse", 0, ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c"]),
            ("GRU", "reverse", 0, ["X", "W", "R", "B", "sequence_lens", "initial_h"]),
            ("GRU", "bidirectional", 1, ["X", "W", "R", "", "sequence_lens"]),
        ]
        for spec in specs {
            let label = "\(spec.op) \(spec.direction) layout \(spec.layout)"
            let model = try node(spec.op, spec.operands, direction: spec.direction, layout: spec.layout)
            let values = operands(model, gates: spec.op == "LSTM" ? 4 : 3, directions: spec.direction == "bidirectional" ? 2 : 1,
                                  layout: spec.layout, seed: 1)
            let names = model.inputs.map(\.name).filter { $0 != "sequence_lens" }
            let xs = names.map { values[$0]! }
            let f = loss(model, values) { model($0) }
            let (_, grads) = valueAndGrad(f)(xs)
            XCTAssertEqual(Self.recurrences(compile({ model($0) }).graph(for: model.inputs.map { values[$0.name]! })),
                           spec.direction == "bidirectional" ? 2 : 1, label)
            // Central differences along a random direction of each input.
            let epsilon = 1e-6
            for (i, name) in names.enumerated() {
                let direction = Tensor.randomNormal(xs[i].shape, key: Tensor.randomKey(UInt64(50 + i)), dtype: .float64)
                func shifted(_ step: Double) -> Double {
                    var moved = xs
                    moved[i] = xs[i] + direction * step
                    return noGrad { f(moved) }.item()
                }
                let numeric = (shifted(epsilon) - shifted(-epsilon)) / (2 * epsilon)
                let analytic = (grads[i] * direction).sum().item()
                XCTAssertEqual(analytic, numeric, accuracy: 1e-6 * max(1, abs(numeric)), "\(label) d/d\(name)")
            }
            // Through compile, the same gradients.
            let compiled = compile({ model($0) })
            let compiledGrads = valueAndGrad(loss(model, values) { compiled($0) })(xs).grads
            for (name, (a, b)) in zip(names, zip(grads, compiledGrads)) {
                XCTAssertLessThan(maxDifference(a, b), 1e-10, "\(label) d/d\(name) compiled")
            }
        }
    }

    /// An LSTM with zero peepholes is unrolled, the same LSTM without them fused: the same
    /// outputs and gradients.
    func testFusedGradientsEqualTheUnrolledPath() throws {
        for direction in ["forward", "bidirectional"] {
            let operands = ["X", "W", "R", "B", "", "initial_h", "initial_c"]
            let fused = try node("LSTM", operands, direction: direction)
            let unrolled = try node("LSTM", operands + ["P"], direction: direction)
            let d = direction == "bidirectional" ? 2 : 1
            var values = self.operands(fused, gates: 4, directions: d, layout: 0, seed: 7)
            values["P"] = Tensor.zeros([d, 12], dtype: .float64)
            let names = fused.inputs.map(\.name)
            let xs = names.map { values[$0]! }
            XCTAssertEqual(Self.recurrences(compile({ fused($0) }).graph(for: xs)), d)
            XCTAssertEqual(Self.recurrences(compile({ unrolled($0) }).graph(for: xs + [values["P"]!])), 0)
            let a = valueAndGrad(loss(fused, values) { fused($0) })(xs)
            let b = valueAndGrad(loss(unrolled, values) { unrolled($0) })(xs + [values["P"]!])
            XCTAssertEqual(a.value.item(), b.value.item(), accuracy: 1e-12, direction)
            for (name, (ga, gb)) in zip(names, zip(a.grads, b.grads)) {
                XCTAssertLessThan(maxDifference(ga, gb), 1e-12, "\(direction) d/d\(name)")
            }
        }
    }

    // MARK: Refusals

    func testUnsupportedLengthsAreRefusedWithTheNode() throws {
        let peepholes = try node("LSTM", ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"], direction: "forward")
        var values = operands(peepholes, gates: 4, directions: 1, layout: 0, seed: 3)
        XCTAssertTrue(loadingProblem { try peepholes.run(peepholes.inputs.map { values[$0.name]! }) }
            .contains("sequence_lens shorter than the sequence (5) are supported only for LSTM without peepholes"))
        let gru = try node("GRU", ["X", "W", "R", "B", "sequence_lens"], direction: "forward")
        values = operands(gru, gates: 3, directions: 1, layout: 0, seed: 3)
        values["sequence_lens"] = Tensor([Int32(5), 6, 1, 1], shape: [4])
        XCTAssertTrue(loadingProblem { try gru.run(gru.inputs.map { values[$0.name]! }) }
            .contains("sequence_lens holds 6, outside 0...5"))
        // Layout 1 takes the initial states batch first.
        let batchFirst = try node("GRU", ["X", "W", "R", "", "", "initial_h"], direction: "forward", layout: 1)
        values = operands(batchFirst, gates: 3, directions: 1, layout: 1, seed: 3)
        values["initial_h"] = Tensor.zeros([1, 4, 4], dtype: .float64)
        XCTAssertTrue(loadingProblem { try batchFirst.run(batchFirst.inputs.map { values[$0.name]! }) }
            .contains("initial_h [1, 4, 4] must be [4, 1, 4]"))
    }
}
