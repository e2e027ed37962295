import CEmberSupport

/// A vertex of the autograd graph: either a recorded primitive application, or the
/// accumulator of a leaf tensor that requires grad (PyTorch's AccumulateGrad).
final class Node {
    enum Kind {
        case operation(Primitive)
        case accumulate
    }

    let kind: Kind
    /// The primitive's inputs, kept for its derivative rule.
    let inputs: [Tensor]
    /// Outputs the derivative rule needs (detached), for primitives with `savesOutputs`.
    let saved: [Tensor]
    /// Where each input's cotangent flows: the producing node and its output index.
    let edges: [(node: Node, output: Int)?]
    let outputCount: Int
    /// Gradient hooks per output; a hook may replace the gradient it is given.
    var hooks: [[(Tensor) -> Tensor?]]
    /// Outputs whose gradient is kept in their tensor's `grad` (retainGrad).
    var retained = Set<Int>()
    /// The leaf an accumulator writes into.
    weak var leaf: Tensor?

    init(kind: Kind, inputs: [Tensor], saved: [Tensor], edges: [(node: Node, output: Int)?], outputCount: Int) {
        self.kind = kind
        self.inputs = inputs
        self.saved = saved
        self.edges = edges
        self.outputCount = outputCount
        self.hooks = Array(repeating: [], count: outputCount)
    }
}

/// Records primitive applications whose inputs require grad.
enum Tape {
    static func recordIfNeeded(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor]) {
        var any = false
        for input in inputs where input.requiresGrad {
            any = true
            break
        }
        guard any, outputs.contains(where: { $0.dtype.isFloatingPoint }) else { return }
        let edges = inputs.map { $0.gradientEdge }
        let saved = primitive.savesOutputs ? outputs.map { $0.detached() } : []
        let node = Node(kind: .operation(primitive), inputs: inputs, saved: saved, edges: edges,
                        outputCount: outputs.count)
        for (i, output) in outputs.enumerated() where output.dtype.isFloatingPoint {
            output.gradFn = node
            output.outputIndex = i
        }
    }
}

extension Tensor {
    /// Whether operations on this tensor are recorded for differentiation. Setting it is
    /// allowed on leaves (tensors not produced by a recorded operation) of floating-point type.
    public var requiresGrad: Bool {
        get { gradFn != nil || leafFlagRequiresGrad }
        set {
            precondition(gradFn == nil, "requiresGrad can only be set on leaf tensors; use detach() for a new leaf")
            precondition(!newValue || dtype.isFloatingPoint, "requiresGrad needs a floating-point tensor, got \(dtype)")
            leafFlagRequiresGrad = newValue
        }
    }

    /// True for tensors not produced by a recorded operation.
    public var isLeaf: Bool { gradFn == nil }

    /// Sets `requiresGrad` and returns self, for chaining at creation.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// The same values without history: a new leaf sharing storage.
    public func detached() -> Tensor {
        let result = Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
        // Under a trace the new handle is the same recorded value (valueAndGrad detaches its arguments).
        if isAbstract { Tracer.current?.alias(result, of: self) }
        return result
    }

    var gradientEdge: (node: Node, output: Int)? {
        if let fn = gradFn { return (fn, outputIndex) }
        guard leafFlagRequiresGrad else { return nil }
        if let node = accumulatorNode { return (node, 0) }
        let node = Node(kind: .accumulate, inputs: [], saved: [], edges: [], outputCount: 1)
        node.leaf = self
        accumulatorNode = node
        return (node, 0)
    }

    /// Registers a function called with this tensor's gradient when it has been computed
    /// during a backward pass; returning a tensor replaces the gradient. For a leaf, it runs
    /// once the gradient from all uses is summed, before accumulation into `grad`.
    public func registerHook(_ hook: @escaping (Tensor) -> Tensor?) {
        guard let (node, index) = gradientEdge else {
            preconditionFailure("registerHook: the tensor does not require grad")
        }
        node.hooks[index].append(hook)
    }

    /// Keeps the gradient of a non-leaf tensor in `grad` after backward (leaves always do).
    public func retainGrad() {
        // A second call keeps the gradient once, not twice.
        guard let fn = gradFn, fn.retained.insert(outputIndex).inserted else { return }
        registerHook { [weak self] g in
            guard let self else { return nil }
            self.grad = self.grad.map { $0 + g } ?? g.detached()
            return nil
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}

/// Runs `body` without recording operations for differentiation.
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    let state = ember_thread_state()
    state.pointee.gradDisabledDepth += 1
    defer { state.pointee.gradDisabledDepth -= 1 }
    return try body()
}

/// Runs `body` with recording on, even inside `noGrad` (used to build gradient graphs).
func withGradEnabled<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
    let state = ember_thread_state()
    let saved = state.pointee.gradDisabledDepth
    state.pointee.gradDisabledDepth = enabled ? 0 : max(saved, 1)
    defer { state.pointee.gradDisabledDepth = saved }
    return try body()
}

/// Whether operations are currently recorded for differentiation.
public var isGradEnabled: Bool { ember_thread_state().pointee.gradDisabledDepth == 0 }
