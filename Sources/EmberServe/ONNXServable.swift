import Ember
import EmberONNX
import Foundation

/// An ONNX model (`VERSION/model.onnx`, external data files beside it), imported by
/// `ONNXModel`: its signature is the graph's inputs and outputs (names, data types, shapes
/// with -1 for open sizes). When every input and output has an open first axis, that axis is
/// the batch: concurrent requests are stacked into one forward per shape bucket (the batch
/// padded to the next power of two), compiled for inference once the bucket has run eagerly
/// (which checks the graph accepts those shapes, failing the batch instead of the process).
final class ONNXServable: Servable, @unchecked Sendable {
    static let fileName = "model.onnx"
    /// At most this many shape buckets are compiled; rarer shapes run eagerly, so that models
    /// with open non-batch axes (lengths) do not keep a trace per length ever seen.
    static let maximumCompiledShapes = 32

    let model: ONNXModel
    let signature: Signature
    let inputKind: InputKind
    let classNames: [String] = []
    private let compiled: CompiledFunction
    /// Shape buckets (every input's shape) that ran eagerly without error: compiled from then on.
    private var checkedShapes: Set<[[Int]]> = []

    init(folder: URL) throws {
        let file = folder.appendingPathComponent(Self.fileName)
        model = try ONNXModel(contentsOf: file)
        func spec(_ info: ONNXValueInfo, role: String) throws -> TensorSpec {
            guard let dims = info.dims else {
                throw ServeError("\(file.path): \(role) '\(info.name)' has no declared rank; the server needs every input's and output's rank")
            }
            return TensorSpec(name: info.name, datatype: DataType(info.dtype), shape: dims.map { $0 ?? -1 })
        }
        let inputs = try model.inputs.map { try spec($0, role: "input") }
        let outputs = try model.outputs.map { try spec($0, role: "output") }
        signature = Signature(inputs: inputs, outputs: outputs, classifies: false)
        let batched = !inputs.isEmpty && (inputs + outputs).allSatisfy { $0.shape.first == -1 }
        inputKind = .tensors(batched: batched)
        let model = self.model
        compiled = compile({ model($0) }, options: .inference)
    }

    /// Whether `folder` holds an ONNX model rather than a run.
    static func recognizes(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(fileName).path)
    }

    private var batched: Bool { inputKind == .tensors(batched: true) }

    /// The request's tensors as the graph's dtypes (decoding checked names, types and shapes).
    func prepare(_ example: ExampleInput) throws -> PreparedExample {
        guard case .tensors(let values) = example else { throw RequestError(.badRequest, "the model takes named tensors") }
        return .tensors(zip(signature.inputs, model.inputs).map { spec, info in
            let value = values[spec.name]!
            if let integers = value.integers, info.dtype == .int64 { return Tensor(integers, shape: value.shape) }
            return Tensor(value.values, shape: value.shape).cast(to: info.dtype)
        })
    }

    func forward(_ batch: [PreparedExample]) throws -> [ExampleOutput] {
        let examples = batch.map { example -> [Tensor] in
            guard case .tensors(let tensors) = example else { preconditionFailure("an ONNX model's examples are tensors") }
            return tensors
        }
        guard batched else { return try examples.map { try outputs(of: run($0), row: nil) } }
        // Examples stack only with examples of the same sizes (open axes other than the batch).
        var results = [ExampleOutput?](repeating: nil, count: examples.count)
        let groups = Dictionary(grouping: examples.indices) { examples[$0].map(\.shape) }
        for (_, rows) in groups.sorted(by: { $0.value[0] < $1.value[0] }) {
            let bucket = 1 << (Int.bitWidth - (rows.count - 1).leadingZeroBitCount)
            let padded = rows + Array(repeating: rows[rows.count - 1], count: bucket - rows.count)
            let stacked = signature.inputs.indices.map { input in Tensor.stack(padded.map { examples[$0][input] }) }
            let answers = try run(stacked)
            for (index, answer) in zip(signature.outputs, answers) where answer.rank == 0 || answer.shape[0] != bucket {
                throw RequestError(.internalServerError, "output '\(index.name)' has shape \(answer.shape); the batch of \(bucket) should be its first size")
            }
            for (position, row) in rows.enumerated() { results[row] = outputs(of: answers, row: position) }
        }
        return results.map { $0! }
    }

    /// The graph on `inputs`: eagerly the first time their shapes are seen (an ONNXError is a
    /// failed batch), compiled after.
    private func run(_ inputs: [Tensor]) throws -> [Tensor] {
        let shapes = inputs.map(\.shape)
        if checkedShapes.contains(shapes) {
            do {
                // Values the shapes do not settle (an index read from the input) can still be refused.
                return try catchingOperationErrors { noGrad { compiled(inputs) } }
            } catch {
                throw RequestError(.badRequest, "the model cannot run on these inputs: \(error)")
            }
        }
        let answers: [Tensor]
        do {
            answers = try catchingOperationErrors { try noGrad { try model.run(inputs) } }
        } catch {
            throw RequestError(.badRequest, "the model cannot run on inputs of shapes \(shapes): \(error)")
        }
        if checkedShapes.count < Self.maximumCompiledShapes { checkedShapes.insert(shapes) }
        return answers
    }

    /// Every output by name: the whole tensor, or its `row` along the batch axis.
    private func outputs(of answers: [Tensor], row: Int?) -> ExampleOutput {
        Dictionary(zip(signature.outputs, answers).map { spec, answer in
            let tensor = row.map { answer[$0] } ?? answer
            let integers = tensor.dtype == .int64 ? tensor.scalars(as: Int64.self) : nil
            return (spec.name, OutputValue.tensor(TensorValue(datatype: spec.datatype, shape: tensor.shape, values: tensor.doubles, integers: integers)))
        }, uniquingKeysWith: { first, _ in first })
    }
}

extension DataType {
    /// The Open Inference Protocol type of an Ember dtype; bfloat16, which the protocol names
    /// but few clients write, is served as FP32 and cast.
    init(_ dtype: DType) {
        switch dtype {
        case .bool: self = .bool
        case .int32: self = .int32
        case .int64: self = .int64
        case .float16: self = .fp16
        case .bfloat16, .float32: self = .fp32
        case .float64: self = .fp64
        }
    }
}
