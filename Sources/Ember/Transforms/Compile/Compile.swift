import Foundation

/// What `compile` may assume and which rewrites it runs.
public struct CompileOptions: Sendable {
    /// Treat captured tensors as fixed values: evaluate operations on constants once at
    /// compile time and merge equal small constants. Off by default, because captured
    /// tensors (a module's weights) are read by reference on every call, so an in-place
    /// update (an optimizer step) is seen by the next call; turn it on for inference, or
    /// recompile after changing what was captured (the backend may also keep captured
    /// convolution weights converted to its kernels' layout).
    public var foldConstants: Bool
    /// Fold the per-channel affine chain after a convolution (eval-mode batch norm) into
    /// its weight and bias. Only with `foldConstants`.
    public var foldBatchNorm: Bool
    /// Fuse chains of elementwise operations (and a reduction or layer norm ending one), and
    /// a convolution with the activation that follows it.
    public var fuseElementwise: Bool
    /// Run through a memory plan that reuses intermediate buffers.
    public var planMemory: Bool
    /// Run float32 3×3 stride-1 convolutions with Winograd's algorithm where the backend has
    /// it (`ConvConfig.winograd`): fewer multiplications, but the transforms round differently
    /// from a direct sum (the error measured for ResNet-50 is in bench/RESULTS.md). Off by
    /// default; `ember bench --fast-math` turns it on.
    public var winograd: Bool

    public init(foldConstants: Bool = false, foldBatchNorm: Bool = false, fuseElementwise: Bool = true, planMemory: Bool = true,
                winograd: Bool = false) {
        self.foldConstants = foldConstants
        self.foldBatchNorm = foldBatchNorm
        self.fuseElementwise = fuseElementwise
        self.planMemory = planMemory
        self.winograd = winograd
    }

    /// For inference with fixed weights: every rewrite.
    public static let inference = CompileOptions(foldConstants: true, foldBatchNorm: true)

    var passes: [any GraphPass] {
        var passes: [any GraphPass] = [DeadCodeElimination()]
        if foldConstants { passes.append(ConstantFolding()) }
        passes.append(CommonSubexpressionElimination(mergeEqualConstants: foldConstants))
        passes.append(HalfConvolutionOutput())
        if foldConstants && foldBatchNorm { passes.append(BatchNormFolding()) }
        if winograd { passes.append(WinogradConvolution()) }
        if fuseElementwise { passes += [LinearFusion(), ElementwiseFusion(), ConvolutionFusion()] }
        passes.append(DeadCodeElimination())
        return passes
    }
}

/// A function traced once per input signature (shapes and dtypes, and the `autocast` type in
/// force, whose casts the trace records), optimized by graph
/// passes and replayed. Calls run the optimized graph with a memory plan; while an outer
/// trace is recording, or when the tape must record (an input or a captured tensor
/// requires grad), they replay it through the dispatcher instead, so compiled functions
/// can be differentiated and traced like any other.
///
/// Tensors the function captures (weights) are constants of the graph, held by reference:
/// unless `foldConstants` is set, every call reads their current values.
public final class CompiledFunction: @unchecked Sendable {
    public let options: CompileOptions
    private let function: ([Tensor]) -> [Tensor]
    private var cache: [Signature: Compiled] = [:]

    /// What a trace depends on besides the function: the inputs, and autocast's type.
    struct Signature: Hashable {
        let inputs: [TensorSpec]
        let autocast: DType?
    }
    private let lock = NSLock()
    private var traces = 0

    init(_ function: @escaping ([Tensor]) -> [Tensor], options: CompileOptions) {
        self.function = function
        self.options = options
    }

    /// One signature's graphs, what each pass did, and its executor.
    struct Compiled {
        let original: Graph
        let optimized: Graph
        let steps: [(pass: String, operations: Int)]
        let executor: Executor?
        /// Inside `catchingOperationErrors`, an operation refused the traced shapes: the
        /// graph is not the function's, and is neither kept nor run.
        var refused = false
    }

    /// How many times the function has been traced: once per new input signature.
    public var traceCount: Int { lock.withLock { traces } }

    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        let compiled = self.compiled(for: inputs.map(\.spec))
        if compiled.refused {
            return compiled.original.outputs.map { Tensor.zeros(compiled.original.specs[$0].shape, dtype: compiled.original.specs[$0].dtype) }
        }
        if let executor = compiled.executor, !Executor.mustDispatch(inputs, compiled.optimized) {
            return executor.run(inputs)
        }
        return compiled.optimized(inputs)
    }

    /// For a function of one tensor to one tensor.
    public func callAsFunction(_ x: Tensor) -> Tensor { self([x])[0] }

    /// The optimized graph for inputs like these (traced now if their signature is new).
    public func graph(for inputs: [Tensor]) -> Graph { compiled(for: inputs.map(\.spec)).optimized }

    /// What compile did for inputs like these: the traced graph, the operation count after
    /// each pass, the optimized graph and its memory plan.
    public func report(for inputs: [Tensor]) -> String {
        let compiled = self.compiled(for: inputs.map(\.spec))
        var lines = ["traced: \(compiled.original.operations.count) operations"]
        for (pass, count) in compiled.steps { lines.append("  \(pass): \(count) operations") }
        if let executor = compiled.executor { lines += [executor.plan.description, executor.layouts.description] }
        lines.append("before:\n\(compiled.original)")
        lines.append("after:\n\(compiled.optimized)")
        return lines.joined(separator: "\n")
    }

    private func compiled(for inputs: [TensorSpec]) -> Compiled {
        let signature = Signature(inputs: inputs, autocast: Autocast.dtype)
        if let found = lock.withLock({ cache[signature] }) { return found }
        let original = trace(inputs, function)
        if OperationErrorTrap.hasCaught {
            return Compiled(original: original, optimized: original, steps: [], executor: nil, refused: true)
        }
        var graph = original
        var steps = [(pass: String, operations: Int)]()
        for pass in options.passes {
            graph = pass.run(graph)
            steps.append((pass.name, graph.operations.count))
        }
        let executor = options.planMemory ? Executor(graph, MemoryPlan(graph), fixedConstants: options.foldConstants) : nil
        let compiled = Compiled(original: original, optimized: graph, steps: steps, executor: executor)
        return lock.withLock {
            traces += 1
            if let raced = cache[signature] { return raced }
            cache[signature] = compiled
            return compiled
        }
    }
}

/// Compiles `f`: traced once per input signature, optimized (dead code, common
/// subexpressions, elementwise fusion; constant and batch-norm folding when the options
/// allow), replayed with reused buffers. See `CompiledFunction`.
public func compile(_ f: @escaping ([Tensor]) -> [Tensor], options: CompileOptions = CompileOptions()) -> CompiledFunction {
    CompiledFunction(f, options: options)
}

/// Compiles a function of one tensor; call the result with one tensor.
public func compile(_ f: @escaping (Tensor) -> Tensor, options: CompileOptions = CompileOptions()) -> CompiledFunction {
    CompiledFunction({ [f($0[0])] }, options: options)
}

/// A compiled training step: `compile(valueAndGrad(loss))` traces the forward and the
/// backward pass together, so the passes work across both.
public struct CompiledValueAndGrad {
    /// The compiled function returning the value followed by the gradients.
    public let function: CompiledFunction

    public func callAsFunction(_ inputs: [Tensor]) -> (value: Tensor, grads: [Tensor]) {
        let results = function(inputs)
        return (results[0], Array(results.dropFirst()))
    }
}

/// Compiles a training step, the value and the gradients of `valueAndGrad(loss)`, into one
/// graph (see ``CompiledValueAndGrad``).
public func compile(_ f: @escaping ([Tensor]) -> (value: Tensor, grads: [Tensor]),
                    options: CompileOptions = CompileOptions()) -> CompiledValueAndGrad {
    CompiledValueAndGrad(function: CompiledFunction({ xs in
        let (value, grads) = f(xs)
        return [value] + grads
    }, options: options))
}
