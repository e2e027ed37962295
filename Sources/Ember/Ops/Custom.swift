import Foundation

/// Functions with derivative rules of their own (JAX's `custom_vjp`, PyTorch's
/// `autograd.Function`), and `stopGradient`.
///
/// A custom function is one primitive, `.custom`, whose forward pass is the user's function
/// and whose derivative rule is the user's backward function. Recorded as one operation, it
/// keeps its rule through `compile`, `vmap` and replays, and grad of grad differentiates the
/// backward function's own operations.
public final class CustomFunction: Hashable, @unchecked Sendable, CustomStringConvertible {
    let forward: ([Tensor]) -> [Tensor]
    let backward: (_ inputs: [Tensor], _ outputs: [Tensor], _ cotangents: [Tensor]) -> [Tensor]
    let name: String
    /// The function's own batching rule, if it has one (JAX's `custom_vmap`).
    let batchRule: BatchRule?
    /// The function's own forward-mode rule, if it has one (JAX's `custom_jvp`).
    let jvpRule: JVPRule?
    private var graphs: [[TensorSpec]: Graph] = [:]
    private let lock = NSLock()

    /// Given the operands (the batched ones with the batch axis in front) and which are
    /// batched, the outputs for the whole batch, batch axis in front.
    public typealias BatchRule = (_ values: [Tensor], _ batched: [Bool]) -> [Tensor]

    /// Given the inputs, the outputs and a tangent for each input (nil: zero), the outputs'
    /// tangents (nil: zero).
    public typealias JVPRule = (_ inputs: [Tensor], _ outputs: [Tensor], _ tangents: [Tensor?]) -> [Tensor?]

    init(name: String, forward: @escaping ([Tensor]) -> [Tensor],
         backward: @escaping (_ inputs: [Tensor], _ outputs: [Tensor], _ cotangents: [Tensor]) -> [Tensor],
         batchRule: BatchRule? = nil, jvpRule: JVPRule? = nil) {
        self.name = name
        self.batchRule = batchRule
        self.jvpRule = jvpRule
        self.forward = forward
        self.backward = backward
    }

    /// The forward function traced for inputs of these specs (once per signature): its
    /// output specs are the primitive's shape rule, and its graph the forward-mode rule.
    func graph(for inputs: [TensorSpec]) -> Graph {
        if let found = lock.withLock({ graphs[inputs] }) { return found }
        let graph = eagerly { trace(inputs) { forward($0) } }
        // A trace whose shapes were refused (inside catchingOperationErrors) is not the function's.
        if !OperationErrorTrap.hasCaught { lock.withLock { graphs[inputs] = graph } }
        return graph
    }

    /// Runs the forward function on concrete inputs into the primitive's outputs.
    func run(_ inputs: [Tensor], into outputs: [Tensor]) {
        let results = eagerly { forward(inputs) }
        for (result, output) in zip(results, outputs) {
            output.backend.copy(noGrad { result.cast(to: output.dtype) }, into: output)
        }
    }

    public static func == (a: CustomFunction, b: CustomFunction) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    public var description: String { name }
}

enum Custom {
    static func outputSpecs(_ function: CustomFunction, _ inputs: [TensorSpec]) -> [TensorSpec] {
        let graph = function.graph(for: inputs)
        return graph.outputs.map { graph.specs[$0] }
    }

    /// The user's backward function, given the inputs, the outputs (saved) and a cotangent
    /// for every output (zeros where none arrived).
    static func vjp(_ function: CustomFunction, _ inputs: [Tensor], _ outputs: [Tensor], _ cotangents: [Tensor?],
                    _ needed: [Bool]) -> [Tensor?] {
        let gradients = function.backward(inputs, outputs, cotangents.map { $0! })
        if gradients.count != inputs.count {
            fatalError("customVJP(\(function.name)): the backward function returned \(gradients.count) cotangents for \(inputs.count) inputs")
        }
        return zip(inputs, gradients).map { input, g in
            guard input.dtype.isFloatingPoint else { return nil }
            if g.shape != input.shape {
                fatalError("customVJP(\(function.name)): the backward function returned a cotangent of shape \(g.shape) for an input of shape \(input.shape)")
            }
            return g.cast(to: input.dtype)
        }
    }

    /// Forward mode uses the function's JVP rule, or else differentiates the forward
    /// function's own operations (as JAX, where a custom VJP rule does not define tangents).
    static func jvp(_ function: CustomFunction, _ x: [Tensor], _ y: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        guard let rule = function.jvpRule else { return JVP.run(function.graph(for: x.map(\.spec)), x, t).tangents }
        let tangents = rule(x, y, t)
        if tangents.count != y.count {
            fatalError("customVJP(\(function.name)): the JVP rule returned \(tangents.count) tangents for \(y.count) outputs")
        }
        return zip(tangents, y).map { tangent, output in
            guard let tangent else { return nil }
            if tangent.shape != output.shape {
                fatalError("customVJP(\(function.name)): the JVP rule returned a tangent of shape \(tangent.shape) for an output of shape \(output.shape)")
            }
            return tangent.cast(to: output.dtype)
        }
    }

    /// The function of one example, vectorized, as a new custom function: its forward pass
    /// is the forward function under `vmap`, its backward pass the backward function under
    /// `vmap`, whose cotangents for inputs shared by every example are summed over them.
    static func batch(_ function: CustomFunction, _ x: BatchedOperands) -> [Tensor] {
        if let rule = function.batchRule { return rule(x.values, x.batched) }
        let inAxes = x.batched.map { $0 ? 0 : nil as Int? }
        let inputCount = x.values.count
        let batched = CustomFunction(name: "vmap(\(function.name))",
                                     forward: vmap(function.forward, inAxes: inAxes)) { inputs, outputs, cotangents in
            let perExample = vmap({ all in
                function.backward(Array(all[..<inputCount]), Array(all[inputCount..<(inputCount + outputs.count)]),
                                  Array(all[(inputCount + outputs.count)...]))
            }, inAxes: inAxes + Array(repeating: 0, count: 2 * outputs.count))(inputs + outputs + cotangents)
            return zip(perExample, x.batched).map { g, isBatched in isBatched ? g : g.sum(axis: 0) }
        }
        return Dispatch.run(.custom(batched), x.values)
    }
}

/// `f` with the derivative rule `backward`: reverse-mode differentiation (`grad`, `vjp`,
/// `backward()`) calls `backward(inputs, outputs, cotangents)` for the cotangents of the
/// inputs, one per input of its shape (ignored for integer inputs), instead of
/// differentiating `f`'s operations. Works under `compile`, `vmap` and inside modules;
/// `jvp` differentiates `f` itself, or calls `jvpRule` (JAX's `custom_jvp`) when one is given.
/// The backward function's operations are recorded when a higher derivative is taken. A
/// `batchRule` replaces vectorizing `forward` under `vmap` (JAX's `custom_vmap`): the
/// named-axis collectives reduce over the batch with it, and give their tangents by `jvpRule`.
public func customVJP(_ forward: @escaping ([Tensor]) -> [Tensor],
                      backward: @escaping (_ inputs: [Tensor], _ outputs: [Tensor], _ cotangents: [Tensor]) -> [Tensor],
                      batchRule: CustomFunction.BatchRule? = nil, jvpRule: CustomFunction.JVPRule? = nil,
                      name: String = "custom") -> ([Tensor]) -> [Tensor] {
    let function = CustomFunction(name: name, forward: forward, backward: backward, batchRule: batchRule, jvpRule: jvpRule)
    return { inputs in
        if inputs.isEmpty { fatalError("customVJP(\(name)): the function needs at least one input tensor") }
        return Dispatch.run(.custom(function), inputs)
    }
}

/// `customVJP` for a function of one tensor: `backward(x, y, cotangent)` gives x's cotangent.
public func customVJP(_ forward: @escaping (Tensor) -> Tensor,
                      backward: @escaping (_ x: Tensor, _ y: Tensor, _ cotangent: Tensor) -> Tensor,
                      name: String = "custom") -> (Tensor) -> Tensor {
    let f = customVJP({ [forward($0[0])] }, backward: { [backward($0[0], $1[0], $2[0])] }, name: name)
    return { f([$0])[0] }
}

/// The same values through which no derivative flows (JAX's `lax.stop_gradient`): gradients
/// stop here and, under `jvp`, tangents are zero. (`detached()` only stops the tape.)
public func stopGradient(_ x: Tensor) -> Tensor {
    Dispatch.run1(.stopGradient, [x])
}
