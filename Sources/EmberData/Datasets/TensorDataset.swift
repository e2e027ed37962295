import Ember

/// Examples read from tensors along their first axis (PyTorch's TensorDataset): example i of
/// `TensorDataset(inputs, targets)` is `(inputs[i], targets[i])`.
public struct TensorDataset: Dataset {
    public let tensors: [Tensor]

    public init(_ tensors: Tensor...) {
        precondition(!tensors.isEmpty, "TensorDataset: needs at least one tensor")
        precondition(tensors.allSatisfy { $0.rank > 0 }, "TensorDataset: every tensor needs an axis to index, got shapes \(tensors.map(\.shape))")
        let counts = tensors.map { $0.shape[0] }
        precondition(Set(counts).count == 1, "TensorDataset: tensors differ in their first dimension: \(counts)")
        // Contiguous once here, so examples are cheap views readable without kernels.
        self.tensors = tensors.map { $0.contiguous() }
    }

    public var count: Int { tensors[0].shape[0] }

    /// The i-th slice of every tensor.
    public subscript(index: Int) -> [Tensor] {
        precondition(index >= 0 && index < count, "TensorDataset: index \(index) is out of range 0..<\(count)")
        return tensors.map { $0.row(index) }
    }
}

extension Tensor {
    /// Slice `index` of a contiguous tensor's first axis, as a view (no kernel runs).
    func row(_ index: Int) -> Tensor {
        let rowCount = shape.dropFirst().reduce(1, *)
        return Tensor(storage: storage, shape: Array(shape.dropFirst()), strides: Array(strides.dropFirst()),
                      offset: offset + index * rowCount, dtype: dtype)
    }
}
