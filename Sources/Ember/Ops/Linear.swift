import Foundation

import CEmberSupport

/// What a fused matmul does to its product as it writes it, in this order: add a bias
/// (broadcast along the last axis), apply an activation, add a residual of the product's
/// shape. On the CPU, float32 runs as one oneDNN matmul (bias argument, eltwise and binary
/// post-ops); the product never makes a round trip through memory.
public struct LinearEpilogue: Hashable, Sendable, CustomStringConvertible {
    /// Activations oneDNN applies as a post-op (GELU in both forms: erf and tanh).
    public enum Activation: String, Hashable, Sendable, CaseIterable {
        case relu, tanh, sigmoid, gelu, geluTanh, silu

        /// The activation as tensor operations (the reference the kernel must match).
        func apply(_ x: Tensor) -> Tensor {
            switch self {
            case .relu: return x.relu()
            case .tanh: return x.tanh()
            case .sigmoid: return x.sigmoid()
            case .gelu: return x.gelu()
            case .geluTanh: return x.gelu(approximate: true)
            case .silu: return x.silu()
            }
        }

        /// The activation of one value, in double precision (compile's pattern matching
        /// compares candidate subgraphs with it; the small-product kernel applies it).
        func value(_ x: Double) -> Double {
            switch self {
            case .relu: return Swift.max(x, 0)
            case .tanh: return Double.tanh(x)
            case .sigmoid: return 1 / (1 + Double.exp(-x))
            case .gelu: return 0.5 * x * (1 + Double.erf(x / 2.0.squareRoot()))
            case .geluTanh: return 0.5 * x * (1 + Double.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
            case .silu: return x / (1 + Double.exp(-x))
            }
        }
    }

    public var hasBias: Bool
    public var activation: Activation?
    public var hasResidual: Bool

    public init(hasBias: Bool = false, activation: Activation? = nil, hasResidual: Bool = false) {
        self.hasBias = hasBias
        self.activation = activation
        self.hasResidual = hasResidual
    }

    public var description: String { describe("matmul") }

    /// `product` with the epilogue's steps around it: `gelu(matmul(in0, in1) + in2) + in3`.
    func describe(_ product: String) -> String {
        var text = product
        if hasBias { text += " + bias" }
        if let activation { text = "\(activation.rawValue)(\(text))" }
        if hasResidual { text += " + residual" }
        return text
    }

    /// The fused primitive computing `x @ weight (+ bias) (activation) (+ residual)`.
    func program(domain: [Int]) -> FusedProgram {
        FusedProgram(domain: domain, operandCount: 1, instructions: [], outputs: [0], head: .matmul(self))
    }
}

/// `activation(x @ weight + bias)`: one primitive where nothing needs its pieces, the
/// operations one by one otherwise. The fused primitive runs when called eagerly on float32
/// with no gradient recorded (inference, or under `noGrad`): there it saves a pass over the
/// product per step. Under a tape, a trace (compile, vmap, jvp, export) or in another
/// type it is the unfused formula, which those see through at no cost: the fused primitive's
/// derivative would recompute the product, and compile fuses the traced pieces itself.
/// `weight` is [in, out] (a transposed view of a Linear layer's [out, in] weight is read in
/// place).
public func linear(_ x: Tensor, _ weight: Tensor, bias: Tensor? = nil,
                   activation: LinearEpilogue.Activation? = nil) -> Tensor {
    let epilogue = LinearEpilogue(hasBias: bias != nil, activation: activation)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    if LinearEpilogue.fusesEagerly(inputs) {
        let domain = Array(x.shape.dropLast()) + [weight.shape.last!]
        if x.rank >= 2, weight.rank == 2, x.shape.last == weight.shape[0] {
            return Dispatch.run1(.fused(epilogue.program(domain: domain)), inputs)
        }
    }
    var y = x.matmul(weight)
    if let bias { y = y + bias }
    return activation?.apply(y) ?? y
}

extension LinearEpilogue {
    /// Whether an eager call on `inputs` may run the fused primitive: float32 on the CPU,
    /// no trace in force and no gradient to record.
    static func fusesEagerly(_ inputs: [Tensor]) -> Bool {
        let state = ember_thread_state()
        guard state.pointee.tracer == nil else { return false }
        guard inputs.allSatisfy({ $0.dtype == .float32 && !$0.isAbstract && $0.storage.backend === CPUBackend.shared })
        else { return false }
        return state.pointee.gradDisabledDepth > 0 || !inputs.contains { $0.requiresGrad }
    }
}
