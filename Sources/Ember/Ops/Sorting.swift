/// Sorting along an axis: `argsort` is the primitive (indices, no derivative); sorted
/// values and `topk` gather with its indices, so their derivatives are gather's.
enum Sorting {
    static func argsortSpec(_ axis: Int, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        let x = inputs[0]
        guard axis >= 0 && axis < x.shape.count else {
            throw ShapeError("argsort", "axis \(axis) is out of range for a tensor of rank \(x.shape.count)")
        }
        if x.dtype == .bool { throw ShapeError("argsort", "bool tensors are sorted as integers; cast first") }
        return TensorSpec(x.shape, .int64)
    }

    static func axis(_ op: String, _ axis: Int, _ x: Tensor) -> Int {
        guard let a = ShapeMath.normalize(axis: axis, rank: x.rank) else {
            fatalError("\(op): axis \(axis) is out of range for a tensor of rank \(x.rank)")
        }
        return a
    }
}

extension Tensor {
    /// The indices (int64) that sort each slice along `axis`, ascending unless `descending`.
    /// Equal values keep their order (stable); NaN counts as larger than every number.
    public func argsort(axis: Int = -1, descending: Bool = false) -> Tensor {
        Dispatch.run1(.argsort(axis: Sorting.axis("argsort", axis, self), descending: descending), [self])
    }

    /// The slices along `axis` sorted, and the indices they came from (torch.sort).
    public func sort(axis: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        let indices = argsort(axis: axis, descending: descending)
        return (gather(axis: axis, index: indices), indices)
    }

    /// The `k` largest (or smallest) elements along `axis`, in sorted order, and their
    /// indices (torch.topk).
    public func topk(_ k: Int, axis: Int = -1, largest: Bool = true) -> (values: Tensor, indices: Tensor) {
        let a = Sorting.axis("topk", axis, self)
        if k < 0 || k > shape[a] { fatalError("topk: k = \(k) is outside 0...\(shape[a]) for axis \(axis) of shape \(shape)") }
        let indices = argsort(axis: a, descending: largest).narrow(axis: a, start: 0, count: k)
        return (gather(axis: a, index: indices), indices)
    }
}

// MARK: - ONNX mapping

extension Sorting {
    /// TopK over the whole axis, keeping the indices. onnxruntime's TopK keeps equal values in
    /// index order, as Ember's stable sort; NaN ordering is not specified by ONNX.
    static func argsortONNX(_ axis: Int, _ descending: Bool, _ b: ONNXBuilder, _ x: ONNXOperands) -> String {
        let k = b.shapeTensor([b.inputDimension(0, axis: axis)])
        return b.node("TopK", [x.names[0], k], [ONNXAttribute("axis", .int(axis)), ONNXAttribute("largest", .int(descending ? 1 : 0)),
                                                ONNXAttribute("sorted", .int(1))], outputs: 2)[1]
    }
}
