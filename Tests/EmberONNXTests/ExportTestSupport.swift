import Ember
import EmberIO
@testable import EmberONNX
import Foundation
import XCTest

/// Models exported by a test and the cases to run them on, checked in one Python run by
/// check_onnx_export.py (onnx.checker, then onnxruntime against Ember's outputs).
final class ONNXRuntimeCheck {
    let directory: URL
    private var caseCount = 0

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-onnx-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// EMBER_KEEP_ONNX_EXPORTS=1 keeps the models and cases, for a look at a failure.
    deinit {
        if ProcessInfo.processInfo.environment["EMBER_KEEP_ONNX_EXPORTS"] == nil { try? FileManager.default.removeItem(at: directory) }
    }

    /// Saves `model` as NAME.onnx; Ember's outputs are compared with onnxruntime's within
    /// |got - expected| <= atol + rtol·|expected|.
    func add(_ name: String, _ model: Onnx_ModelProto, atol: Double = 1e-5, rtol: Double = 1e-4, externalDataAbove: Int? = nil) throws {
        let url = directory.appendingPathComponent("\(name).onnx")
        if let threshold = externalDataAbove {
            try ONNXExporter.write(model, to: url, externalDataAbove: threshold)
        } else {
            try ONNXExporter.write(model, to: url)
        }
        try "\(atol) \(rtol)".write(to: directory.appendingPathComponent("\(name).tolerance"), atomically: true, encoding: .utf8)
    }

    /// A case of model `name`: its inputs and Ember's outputs, by ONNX name.
    func addCase(_ name: String, inputs: [String: Tensor], expected: [String: Tensor]) throws {
        caseCount += 1
        let stem = directory.appendingPathComponent("\(name).case\(caseCount)")
        try NumPy.writeArchive(inputs, to: URL(fileURLWithPath: stem.path + ".inputs.npz"))
        try NumPy.writeArchive(expected, to: URL(fileURLWithPath: stem.path + ".expected.npz"))
    }

    /// Runs the checks; returns the largest error of each case, by case name.
    @discardableResult
    func run(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Double] {
        guard let python = ProcessInfo.processInfo.environment["EMBER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set EMBER_PYTHON to a Python with onnx and onnxruntime (scripts/python-env.sh prints one) to check exports against onnxruntime")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("check_onnx_export.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, directory.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "check_onnx_export.py:\n\(report)", file: file, line: line)
        var errors = [String: Double]()
        for line in report.split(separator: "\n") where line.hasPrefix("CASE ") {
            let parts = line.split(separator: " ")
            errors[String(parts[1])] = Double(parts[2])
        }
        XCTAssertEqual(errors.count, caseCount, "every case ran:\n\(report)", file: file, line: line)
        // The largest error of each model, for the record.
        let worst = Dictionary(grouping: errors, by: { $0.key.components(separatedBy: ".case")[0] }).mapValues { $0.map(\.value).max()! }
        print("onnxruntime vs Ember, largest |difference| per model: "
              + worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return errors
    }
}
