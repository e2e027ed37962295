import CEmberVectorMath

/// Float32 exp, tanh, sigmoid, erf and GELU over contiguous arrays, so the elementwise
/// kernels stay vectorized where libm would be called once per element. The kernels are C
/// (Sources/CEmberVectorMath) compiled for the x86-64 baseline, AVX2 and AVX-512, one
/// chosen when first used: with AVX-512 they run 2-2.6x faster than on the baseline, and
/// every path gives the same bits.
enum VectorMath {
    /// The vector kernel for a unary operation, if it has one.
    static func function(_ op: UnaryOp) -> EmberVectorFunction? {
        switch op {
        case .exp: return .exp
        case .tanh: return .tanh
        case .sigmoid: return .sigmoid
        case .erf: return .erf
        case .gelu: return .gelu
        default: return nil
        }
    }

    /// target[i] = function(source[i]) for i in 0..<n; the arrays may be the same.
    @inline(__always)
    static func apply(_ function: EmberVectorFunction, _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>,
                      _ n: Int) {
        ember_vector_math(function, source, target, n)
    }
}

/// The instruction set Ember's own vector kernels (exp, tanh, sigmoid, erf, GELU) use on this
/// machine: "avx512", "avx2" or "baseline" (x86-64). The widest the CPU supports, unless the
/// environment variable `EMBER_CPU_DISPATCH` names another (`baseline` forces the path that
/// runs on every x86-64 CPU). oneDNN chooses its own kernels likewise (`ONEDNN_MAX_CPU_ISA`).
public var cpuDispatchPath: String { String(cString: ember_cpu_path_name(ember_cpu_path())) }

/// Why `EMBER_CPU_DISPATCH` was not followed (an unknown value, or a path this CPU lacks), or nil.
public var cpuDispatchWarning: String? { ember_cpu_dispatch_warning().map { String(cString: $0) } }
