import Ember
import EmberIO
import Foundation

/// Examples held as two arrays whose first axis counts the examples, as NumPy users save
/// them: example i is row i of the features with row i of the labels. The arrays' bytes are
/// copied once into plain memory and each example's tensors are built when read.
public struct ArrayDataset: Dataset, Sendable {
    public let count: Int
    private let features: Rows
    private let labels: Rows

    /// Rows of `features` and `labels`; `source` names them in errors.
    public init(features: Tensor, labels: Tensor, source: String = "<memory>") throws {
        guard features.rank >= 1 && labels.rank >= 1 else {
            throw FileError(.npy, path: source, problem: "features \(features.shape) and labels \(labels.shape) must both have a leading example axis")
        }
        guard features.shape[0] == labels.shape[0] else {
            throw FileError(.npy, path: source, problem: "\(features.shape[0]) feature rows (shape \(features.shape)) but \(labels.shape[0]) labels (shape \(labels.shape))")
        }
        count = features.shape[0]
        self.features = Rows(features)
        self.labels = Rows(labels)
    }

    /// The arrays named `features` and `labels` of a `.npz` file (keys without `.npy`).
    public init(contentsOf url: URL, features: String, labels: String) throws {
        let arrays = try NumPy.loadArchive(contentsOf: url)
        for key in [features, labels] where arrays[key] == nil {
            throw FileError(.npy, path: url.path, problem: "no array named \"\(key)\"; the archive holds \(arrays.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        try self.init(features: arrays[features]!, labels: arrays[labels]!, source: url.path)
    }

    /// Features and labels from two `.npy` files.
    public init(features: URL, labels: URL) throws {
        try self.init(features: NumPy.load(contentsOf: features), labels: NumPy.load(contentsOf: labels),
                      source: "\(features.path) and \(labels.path)")
    }

    public subscript(index: Int) -> (features: Tensor, label: Tensor) {
        (features.row(index), labels.row(index))
    }

    /// An array's bytes, row-major, and what each row is.
    private struct Rows {
        let bytes: [UInt8]
        let rowShape: [Int]
        let dtype: DType
        let rowByteCount: Int

        init(_ tensor: Tensor) {
            let dense = noGrad { tensor.contiguous() }
            bytes = [UInt8](unsafeUninitializedCapacity: dense.count * dense.dtype.byteSize) { buffer, initialized in
                if !buffer.isEmpty { dense.backend.download(dense, into: UnsafeMutableRawBufferPointer(buffer)) }
                initialized = buffer.count
            }
            rowShape = Array(tensor.shape.dropFirst())
            dtype = tensor.dtype
            rowByteCount = rowShape.reduce(1, *) * dtype.byteSize
        }

        func row(_ index: Int) -> Tensor {
            let tensor = Tensor(uninitializedShape: rowShape, dtype: dtype)
            if rowByteCount > 0 {
                bytes.withUnsafeBytes { tensor.backend.upload(UnsafeRawBufferPointer(rebasing: $0[(index * rowByteCount)..<((index + 1) * rowByteCount)]), to: tensor.storage, at: 0) }
            }
            return tensor
        }
    }
}
