import ArgumentParser
import Ember
import EmberIO
import EmberONNX
import Foundation

/// `ember run MODEL.onnx --input NAME=FILE.npy ... --out OUT.npz`: an ONNX model imported
/// and run on NumPy arrays; the outputs are saved under the graph's output names.
struct RunONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an ONNX model on .npy inputs and save its outputs to an .npz archive.",
        discussion: """
        Every graph input needs one --input NAME=FILE.npy. The outputs are written to OUT.npz \
        under the graph's output names (numpy.load(OUT)[name]). `ember summary MODEL.onnx` lists \
        the inputs, outputs and operators.
        """)

    @Argument(help: ArgumentHelp("The .onnx file (external data files beside it).", valueName: "model")) var model: String
    @Option(name: .customLong("input"), help: ArgumentHelp("A graph input: NAME=FILE.npy (repeat for each input).", valueName: "name=file"))
    var inputs: [String] = []
    @Option(help: ArgumentHelp("Where to write the outputs, an .npz archive.", valueName: "file")) var out: String

    func validate() throws {
        guard out.hasSuffix(".npz") else {
            throw ValidationError("--out '\(out)' must name an .npz file (for example outputs.npz)")
        }
        for input in inputs {
            let parts = input.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].hasSuffix(".npy") else {
                throw ValidationError("--input '\(input)' must be NAME=FILE.npy (a graph input's name and a NumPy array file)")
            }
        }
    }

    func run() throws {
        let model = try ONNXModel(contentsOf: URL(fileURLWithPath: self.model))
        let names = model.inputs.map(\.name)
        var feeds = [String: Tensor]()
        for input in inputs {
            let parts = input.split(separator: "=", maxSplits: 1).map(String.init)
            guard names.contains(parts[0]) else {
                throw CommandError("--input '\(input)': the model has no input '\(parts[0])'; its inputs are \(names.joined(separator: ", "))")
            }
            guard feeds[parts[0]] == nil else { throw CommandError("--input '\(input)': input '\(parts[0])' is given twice") }
            feeds[parts[0]] = try load(URL(fileURLWithPath: parts[1]), as: model.inputs.first { $0.name == parts[0] })
        }
        let missing = names.filter { feeds[$0] == nil }
        guard missing.isEmpty else {
            throw CommandError("missing --input for \(missing.joined(separator: ", ")) (the model's inputs: \(names.joined(separator: ", ")))")
        }
        let results = try noGrad { try model.run(names.map { feeds[$0]! }) }
        // NumPy has no bfloat16: such outputs are saved as float32, which holds their values.
        let saved = results.map { $0.dtype == .bfloat16 ? $0.cast(to: .float32) : $0 }
        let outputs = Dictionary(zip(model.outputs.map(\.name), saved), uniquingKeysWith: { first, _ in first })
        try NumPy.writeArchive(outputs, to: URL(fileURLWithPath: out))
        for (info, value) in zip(model.outputs, results) { print("\(info.name): \(value.dtype) \(value.shape)") }
    }

    /// A .npy input; raw records ('|V<n>', NumPy's form of bfloat16, float8 and int4 arrays
    /// from ml_dtypes) are read as the type the model declares for the input.
    private func load(_ url: URL, as input: ONNXValueInfo?) throws -> Tensor {
        do {
            return try NumPy.load(contentsOf: url)
        } catch let error as FileError {
            guard let input, let records = try? NumPy.loadRecords(contentsOf: url) else { throw error }
            return try input.tensor(records: records.bytes, recordSize: records.recordSize, shape: records.shape)
        }
    }
}
