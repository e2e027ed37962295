import Ember
import Foundation
import XCTest
@testable import EmberIO

/// The reverse direction: NumPy reads what Ember writes. The files below are checked by
/// `numpy_fixtures.py --check-ember` (same arrays, `.npy` bytes identical to `np.save`'s,
/// `.npz` members' CRCs and compression) under the Python that EMBER_PYTHON names.
final class NumPyInteropTests: XCTestCase {
    private func writeEmberFiles(to directory: URL) throws {
        let grid = Tensor([Float(-2), -1, 0, 1, 2.5, 3], shape: [2, 3])
        let files: [String: Tensor] = [
            "float32.npy": grid,
            "float64_transposed.npy": noGrad { grid.cast(to: .float64).transposed() },
            "float16.npy": Tensor([Float16(0.5), -1.5, 1024]),
            "int32.npy": Tensor([Int32(-3), 0, 7]),
            "int64.npy": Tensor([Int64(-1 << 40), 1 << 40], shape: [2, 1]),
            "bool.npy": Tensor([true, false, false, true], shape: [2, 2]),
            "scalar.npy": Tensor(Float(2.5)),
            "empty.npy": Tensor.zeros([0, 4]),
        ]
        for (name, tensor) in files { try NumPy.write(tensor, to: directory.appendingPathComponent(name)) }
        let archive = ["weights": grid, "labels": Tensor([Int64(1), 2, 3])]
        try NumPy.writeArchive(archive, to: directory.appendingPathComponent("stored.npz"))
        try NumPy.writeArchive(archive, compressed: true, to: directory.appendingPathComponent("compressed.npz"))
    }

    func testNumPyReadsWhatEmberWrites() throws {
        guard let python = ProcessInfo.processInfo.environment["EMBER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set EMBER_PYTHON to a Python with numpy (e.g. /work/venv/peers/bin/python) to check that NumPy reads Ember's .npy/.npz files")
        }
        let directory = try temporaryDirectory(self)
        try writeEmberFiles(to: directory)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("numpy_fixtures.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, "--check-ember", directory.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "numpy_fixtures.py --check-ember:\n\(report)")
        XCTAssertTrue(report.contains("10 files checked, 0 problems"), report)
    }
}
