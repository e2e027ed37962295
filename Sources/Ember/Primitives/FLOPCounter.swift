import CEmberSupport

/// Counts the floating-point operations of the kernels run on this thread, eagerly or in
/// compiled functions, inside `countingFLOPs { }`. The count follows PyTorch's
/// `torch.utils.flop_counter`: matrix products and convolutions (forward and backward), two
/// operations per multiply-add; elementwise work, normalization and data movement are not
/// counted.
public final class FLOPCounter {
    /// The operations counted so far.
    public fileprivate(set) var total = 0

    init() {}

    /// The counter active on this thread, if any.
    public static var current: FLOPCounter? {
        ember_thread_state().pointee.flopCounter.map { Unmanaged<FLOPCounter>.fromOpaque($0).takeUnretainedValue() }
    }

    func count(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor]) {
        total += Self.flops(of: primitive, inputs: inputs.map(\.shape), outputs: outputs.map(\.shape))
    }

    /// The operations one primitive performs on inputs and outputs of these shapes.
    public static func flops(of primitive: Primitive, inputs: [[Int]], outputs: [[Int]]) -> Int {
        func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }
        switch primitive {
        case .matmul:
            // Every output element is a dot product over the shared dimension.
            return 2 * count(outputs[0]) * (inputs[0].last ?? 1)
        case .conv2d:
            // Output element: a dot product over the weight's (in / groups) x kh x kw window.
            return 2 * count(outputs[0]) * count(Array(inputs[1].dropFirst()))
        case .conv2dBackwardInput:
            // Each gradient costs what the forward convolution costs: a dot product over the
            // weight's window per element of gradY, which has the forward output's shape.
            // Inputs (gradY, weight).
            return 2 * count(inputs[0]) * count(Array(inputs[1].dropFirst()))
        case .conv2dBackwardWeight:
            // Inputs (x, gradY); the output is the weight's gradient.
            return 2 * count(inputs[1]) * count(Array(outputs[0].dropFirst()))
        case .attention:
            // The two products, q kᵀ and p v, as PyTorch counts scaled_dot_product_attention.
            let (q, k, v) = (inputs[0], inputs[1], inputs[2])
            let batch = count(Array(outputs[0].dropLast(2))), l = q[q.count - 2], s = k[k.count - 2]
            return 2 * batch * l * s * (q.last! + v.last!)
        case .attentionBackward:
            // Four products (dV, dP, dQ, dK), as PyTorch counts the backward; the recomputed scores are not counted.
            let (q, k, v) = (inputs[0], inputs[1], inputs[2])
            let batch = count(Array(outputs[0].dropLast(2))), l = q[q.count - 2], s = k[k.count - 2]
            return 2 * batch * l * s * (2 * q.last! + 2 * v.last!)
        case .recurrence, .recurrenceBackward:
            return Recurrence.flops(primitive, inputs: inputs, outputs: outputs)
        case .fused(let program):
            // A convolution heading a fused program (compiled code) costs what it costs alone.
            guard let head = program.headPrimitive else { return 0 }
            return flops(of: head, inputs: Array(inputs.prefix(program.headInputCount)), outputs: outputs)
        default:
            return 0
        }
    }
}

/// Runs `body` and returns its result with the FLOPs it performed on this thread (see
/// `FLOPCounter`). Counters nest: an inner count is also part of the outer one.
public func countingFLOPs<Result>(_ body: () throws -> Result) rethrows -> (result: Result, flops: Int) {
    let state = ember_thread_state()
    let outer = state.pointee.flopCounter
    let counter = FLOPCounter()
    state.pointee.flopCounter = Unmanaged.passUnretained(counter).toOpaque()
    defer {
        state.pointee.flopCounter = outer
        if let outer { Unmanaged<FLOPCounter>.fromOpaque(outer).takeUnretainedValue().total += counter.total }
    }
    let result = try withExtendedLifetime(counter) { try body() }
    return (result, counter.total)
}
