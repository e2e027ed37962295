/// Tensors nested by name: a model's parameters (`layer1` → `0` → `conv1` → `weight`), an
/// optimizer's state, a batch. JAX's pytree of dictionaries. Transforms work over a tree's
/// leaves, which are ordered by their dotted path so that flattening is deterministic.
public indirect enum TensorTree {
    case leaf(Tensor)
    case node([String: TensorTree])

    /// A tree from dotted names: `["fc.weight": w, "fc.bias": b]` → `fc` → {`weight`, `bias`}.
    public init(flat: [String: Tensor]) {
        var children = [String: [String: Tensor]]()
        var leaves = [String: TensorTree]()
        for (path, tensor) in flat {
            if let dot = path.firstIndex(of: ".") {
                children[String(path[..<dot]), default: [:]][String(path[path.index(after: dot)...])] = tensor
            } else {
                leaves[path] = .leaf(tensor)
            }
        }
        var node = leaves
        for (key, subtree) in children {
            precondition(node[key] == nil, "TensorTree: \(key) is both a tensor and a prefix of other names")
            node[key] = TensorTree(flat: subtree)
        }
        self = .node(node)
    }

    /// Dotted path → tensor.
    public var flat: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0.tensor) })
    }

    /// The leaves' dotted paths, sorted.
    public var paths: [String] { entries.map(\.path) }

    /// The leaves, in the order of `paths`.
    public var leaves: [Tensor] { entries.map(\.tensor) }

    private var entries: [(path: String, tensor: Tensor)] {
        switch self {
        case .leaf(let tensor): return [("", tensor)]
        case .node(let children):
            return children.keys.sorted().flatMap { key in
                children[key]!.entries.map { (path: $0.path.isEmpty ? key : key + "." + $0.path, tensor: $0.tensor) }
            }
        }
    }

    /// The subtree under `key`, for a node.
    public subscript(key: String) -> TensorTree? {
        if case .node(let children) = self { return children[key] }
        return nil
    }

    /// The tensor of a leaf.
    public var tensor: Tensor? {
        if case .leaf(let tensor) = self { return tensor }
        return nil
    }

    /// The same structure with new leaves, given in the order of `leaves`.
    public func replacingLeaves(_ newLeaves: [Tensor]) -> TensorTree {
        var iterator = newLeaves.makeIterator()
        let result = rebuilt { _ in iterator.next()! }
        precondition(iterator.next() == nil, "TensorTree: \(newLeaves.count) leaves given for a tree of \(leaves.count)")
        return result
    }

    private func rebuilt(_ next: (Tensor) -> Tensor) -> TensorTree {
        switch self {
        case .leaf(let tensor): return .leaf(next(tensor))
        case .node(let children):
            var result = [String: TensorTree]()
            for key in children.keys.sorted() { result[key] = children[key]!.rebuilt(next) }
            return .node(result)
        }
    }

    /// Applies `transform` to every leaf.
    public func map(_ transform: (Tensor) -> Tensor) -> TensorTree { rebuilt(transform) }

    /// Combines the leaves of trees of the same structure (an optimizer update over
    /// parameters, gradients and state).
    public static func zip(_ trees: [TensorTree], _ combine: ([Tensor]) -> Tensor) -> TensorTree {
        precondition(!trees.isEmpty, "TensorTree.zip needs at least one tree")
        let paths = trees[0].paths
        for tree in trees.dropFirst() {
            precondition(tree.paths == paths, "TensorTree.zip: trees differ in structure (\(paths) vs \(tree.paths))")
        }
        let columns = trees.map(\.leaves)
        return trees[0].replacingLeaves(paths.indices.map { i in combine(columns.map { $0[i] }) })
    }
}

/// The value of a scalar function of a tree and its gradient, a tree of the same structure.
public func valueAndGrad(_ f: @escaping (TensorTree) -> Tensor) -> (TensorTree) -> (value: Tensor, grad: TensorTree) {
    { tree in
        let (value, grads) = valueAndGrad { (leaves: [Tensor]) in f(tree.replacingLeaves(leaves)) }(tree.leaves)
        return (value, tree.replacingLeaves(grads))
    }
}

/// The gradient of a scalar function of a tree.
public func grad(_ f: @escaping (TensorTree) -> Tensor) -> (TensorTree) -> TensorTree {
    { tree in valueAndGrad(f)(tree).grad }
}
