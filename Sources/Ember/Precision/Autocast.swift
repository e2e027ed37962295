import CEmberSupport

/// Runs `body` with automatic mixed precision, PyTorch's `torch.autocast("cpu", dtype:)`:
/// matrix products and convolutions (`matmul`, `Linear`, `conv1d`/`conv2d`/`convTranspose2d`,
/// attention's two products, `einsum`) cast their float32 operands to `dtype` and return
/// `dtype`; softmax, log-softmax, layer normalization, batch normalization in training and
/// the losses cast half-precision inputs to float32 and return float32 (batch norm in
/// inference keeps a bfloat16 input's type, as PyTorch); everything else runs in the type
/// of its inputs (with the usual promotion, so half meets float32 in float32). Reductions
/// of half tensors accumulate in float32 and round once. The float32 parameters stay the
/// master copies: their casts are recorded on the tape, so gradients arrive in float32.
///
/// `dtype` is `.bfloat16` (native on CPUs with AVX512-BF16 or AMX: oneDNN's bf16 kernels
/// with f32 accumulation) or `.float16` (stored in 16 bits but computed in float32, as this
/// CPU backend has no float16 arithmetic: use it with `GradScaler` to train as a GPU would).
/// Thread state, read when each operation is called: it holds inside functions that `body`
/// calls, under `grad` and while `compile` traces (the casts become part of the graph).
/// Within one region a parameter (a leaf that requires grad) is cast once and the cast
/// reused, PyTorch's weight cache. `enabled: false` turns autocast off inside an outer region.
public func autocast<R>(_ dtype: DType = .bfloat16, enabled: Bool = true, _ body: () throws -> R) rethrows -> R {
    precondition(dtype == .bfloat16 || dtype == .float16, "autocast: expected bfloat16 or float16, got \(dtype)")
    let state = ember_thread_state()
    let savedDType = state.pointee.autocastDType, savedCache = state.pointee.autocastCache
    let cache = AutocastCache()
    state.pointee.autocastDType = enabled ? Int32(dtype.rawValue + 1) : 0
    state.pointee.autocastCache = Unmanaged.passUnretained(cache).toOpaque()
    defer {
        state.pointee.autocastDType = savedDType
        state.pointee.autocastCache = savedCache
    }
    return try withExtendedLifetime(cache) { try body() }
}

/// What operations ask of the autocast region in force.
public enum Autocast {
    /// The lower-precision type of the autocast region in force on this thread, if any.
    public static var dtype: DType? {
        let raw = ember_thread_state().pointee.autocastDType
        return raw == 0 ? nil : DType(rawValue: Int(raw) - 1)
    }

    /// For an operation on autocast's lower-precision list: the type to compute in, given
    /// the type its operands promote to (float32 becomes the region's type; others stay).
    public static func computeType(_ promoted: DType) -> DType {
        guard promoted == .float32, let dtype else { return promoted }
        return dtype
    }

    /// `x` cast for a lower-precision operation computing in `dtype`; parameters are cast
    /// once per region.
    public static func cast(_ x: Tensor, to dtype: DType) -> Tensor {
        if x.dtype == dtype { return x }
        let state = ember_thread_state()
        guard x.dtype == .float32, x.isLeaf, x.requiresGrad, state.pointee.tracer == nil,
              let pointer = state.pointee.autocastCache else { return x.cast(to: dtype) }
        let cache = Unmanaged<AutocastCache>.fromOpaque(pointer).takeUnretainedValue()
        return cache.cast(x, to: dtype, recorded: state.pointee.gradDisabledDepth == 0)
    }

    /// `x` for an operation on autocast's lower-precision list (a bias added to a product):
    /// cast to the region's type when it is float32 and a region is in force.
    public static func lowered(_ x: Tensor) -> Tensor { cast(x, to: computeType(x.dtype)) }

    /// `x` for an operation on autocast's float32 list (losses, softmax, normalization):
    /// half precision widened to float32 inside a region, unchanged outside.
    public static func widened(_ x: Tensor) -> Tensor {
        x.dtype.isHalf && dtype != nil ? x.cast(to: .float32) : x
    }
}

/// The casts of parameters made in one autocast region. Each entry holds its source's
/// storage, so the key (the storage's identity) cannot be reused while the region lasts.
final class AutocastCache {
    struct Key: Hashable {
        let storage: ObjectIdentifier
        let offset: Int
        let shape: [Int]
        let strides: [Int]
        let dtype: DType
        /// Whether the cast was recorded on the tape (a cast made under noGrad has no gradient).
        let recorded: Bool
    }

    private var casts: [Key: (source: Storage, cast: Tensor)] = [:]

    func cast(_ x: Tensor, to dtype: DType, recorded: Bool) -> Tensor {
        let key = Key(storage: ObjectIdentifier(x.storage), offset: x.offset, shape: x.shape, strides: x.strides,
                      dtype: dtype, recorded: recorded)
        if let hit = casts[key] { return hit.cast }
        let result = x.cast(to: dtype)
        casts[key] = (x.storage, result)
        return result
    }
}

/// The precision a model trains or runs in: float32 throughout, or float32 parameters with
/// `autocast` to bfloat16 or float16 (the names `ember --precision` takes).
public enum Precision: String, CaseIterable, Codable, Sendable {
    case fp32, bf16, fp16

    /// The type autocast lowers products to (nil: no autocast).
    public var autocastDType: DType? {
        switch self {
        case .fp32: return nil
        case .bf16: return .bfloat16
        case .fp16: return .float16
        }
    }

    /// Runs `body` under autocast to this precision's type (directly for fp32).
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        guard let dtype = autocastDType else { return try body() }
        return try autocast(dtype, body)
    }

    /// Runs `body` in this precision whatever region surrounds it: fp32 turns an outer
    /// autocast off (a layer kept in float32 inside a mixed model, Keras's per-layer policy).
    public func override<R>(_ body: () throws -> R) rethrows -> R {
        try autocast(autocastDType ?? .bfloat16, enabled: autocastDType != nil, body)
    }
}
