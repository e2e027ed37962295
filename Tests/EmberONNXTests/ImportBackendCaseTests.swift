import Ember
@testable import EmberONNX
import EmberIO
import Foundation
import XCTest

/// Cases of the ONNX backend node suite (written by Fixtures/generate_backend_cases.py from
/// onnx 1.23.2) for the converters of the narrow types, quantization, Attention and the other
/// recent operators, checked as the suite checks them: shapes equal, integers exactly, floats
/// within rtol 1e-3 (atol 1e-7; 16-bit floats within their own precision).
final class ImportBackendCaseTests: XCTestCase {
    static let directory = ImportFixtures.directory.appendingPathComponent("backend")

    func testBackendCasesMatchTheReference() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
            .filter { $0.hasSuffix(".onnx") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 43)
        for name in names { try check(name) }
    }

    func testAttentionRunsCompiledAndDifferentiates() throws {
        let model = try ONNXModel(contentsOf: Self.directory.appendingPathComponent("test_attention_3d_causal.onnx"))
        let arrays = try NumPy.loadArchive(contentsOf: Self.directory.appendingPathComponent("test_attention_3d_causal.npz"))
        let inputs = model.inputs.map { arrays["0.input.\($0.name)"]! }
        let eager = try model.run(inputs)[0]
        let compiled = noGrad { compile({ [model($0)[0]] })(inputs)[0] }
        XCTAssertLessThan(maxDifference(compiled, eager), 1e-5)
        let mapped = noGrad { vmap({ [model($0)[0]] })(inputs.map { Tensor.stack([$0, $0], axis: 0) })[0] }
        XCTAssertLessThan(maxDifference(mapped, Tensor.stack([eager, eager], axis: 0)), 1e-5)
        // d(sum y)/dQ against central differences (float32, as the model declares its inputs).
        let q = inputs[0]
        func loss(_ q: Tensor) -> Tensor { model([q] + inputs.dropFirst())[0].sum() }
        let gradient = grad(loss)(q)
        for index in [0, 7, 23] {
            var plus = q.doubles, minus = q.doubles
            plus[index] += 1e-2
            minus[index] -= 1e-2
            let numeric = (loss(Tensor(doubles: plus, shape: q.shape, dtype: .float32)).doubles[0]
                - loss(Tensor(doubles: minus, shape: q.shape, dtype: .float32)).doubles[0]) / 2e-2
            XCTAssertEqual(gradient.doubles[index], numeric, accuracy: 2e-3 * max(1, abs(numeric)))
        }
    }

    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try ONNXModel(contentsOf: Self.directory.appendingPathComponent("\(name).onnx"))
        let arrays = try NumPy.loadArchive(contentsOf: Self.directory.appendingPathComponent("\(name).npz"))
        var set = 0
        while arrays.keys.contains(where: { $0.hasPrefix("\(set).") }) {
            let inputs = try model.inputs.map { input -> Tensor in
                if let value = arrays["\(set).input.\(input.name)"] { return value }
                let bits = try XCTUnwrap(arrays["\(set).bits.\(input.name)"], "\(name): no input \(input.name)")
                let size = input.elementType == Int32(Onnx_TensorProto.DataType.bfloat16.rawValue) ? 2 : 1
                let bytes = bits.doubles.flatMap { value -> [UInt8] in
                    let pattern = UInt16(value)
                    return size == 1 ? [UInt8(pattern)] : [UInt8(pattern & 0xFF), UInt8(pattern >> 8)]
                }
                return try input.tensor(records: Data(bytes), recordSize: size, shape: bits.shape)
            }
            let results = try model.run(inputs)
            for (info, actual) in zip(model.outputs, results) {
                let expected = try XCTUnwrap(arrays["\(set).output.\(info.name)"], "\(name): no output \(info.name)")
                XCTAssertEqual(actual.shape, expected.shape, "\(name) \(info.name)", file: file, line: line)
                guard actual.shape == expected.shape else { continue }
                let rtol = actual.dtype == .float16 || actual.dtype == .bfloat16 ? 1e-2 : 1e-3
                for (a, e) in zip(actual.doubles, expected.doubles) where !(a.isNaN && e.isNaN) && a != e {
                    XCTAssertLessThanOrEqual(abs(a - e), 1e-7 + rtol * abs(e), "\(name) \(info.name): \(a) against \(e)", file: file, line: line)
                    break
                }
            }
            set += 1
        }
        XCTAssertGreaterThan(set, 0, name)
    }
}
