import Foundation

/// The CPU backend: oneDNN for matrix products, convolution, pooling and layer normalization
/// in float32; vectorized Swift loops, split across cores, for everything else (batch
/// normalization included, see NormalizationKernels) and for float64.
public final class CPUBackend: Backend, @unchecked Sendable {
    public static let shared = CPUBackend()

    public var name: String { "cpu" }

    /// Host memory; blocks aligned to cache lines for AVX-512 loads. Small ones come from
    /// plain malloc (16-byte aligned), several times cheaper for tiny tensors; large ones
    /// are reused through `BlockCache`.
    public func allocate(byteCount: Int) -> Storage {
        var pointer: UnsafeMutableRawPointer?
        if byteCount < 4096 {
            pointer = malloc(Swift.max(byteCount, 16))
        } else if byteCount < BlockCache.minimumSize {
            _ = posix_memalign(&pointer, 64, byteCount)
        } else {
            let size = BlockCache.roundedSize(byteCount)
            pointer = BlockCache.shared.take(size)
            if pointer == nil { _ = posix_memalign(&pointer, 64, size) }
            precondition(pointer != nil, "out of memory allocating \(byteCount) bytes")
            return Storage(pointer: pointer!, byteCount: byteCount, backend: self) { BlockCache.shared.give($0, size) }
        }
        precondition(pointer != nil, "out of memory allocating \(byteCount) bytes")
        return Storage(pointer: pointer!, byteCount: byteCount, backend: self, deallocate: CPUBackend.release)
    }

    private static let release: (UnsafeMutableRawPointer) -> Void = { free($0) }

    /// Returns the memory of freed tensors that is kept for reuse to the system.
    public func emptyCache() { BlockCache.shared.empty() }

    public func upload(_ bytes: UnsafeRawBufferPointer, to storage: Storage, at byteOffset: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        (storage.pointer + byteOffset).copyMemory(from: base, byteCount: bytes.count)
    }

    public func download(_ tensor: Tensor, into bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        base.copyMemory(from: tensor.baseAddress, byteCount: bytes.count)
    }

    public func copy(_ source: Tensor, into target: Tensor) {
        ElementwiseKernels.copy(source, target)
    }

    public func fill(_ tensor: Tensor, with value: Double) {
        ElementwiseKernels.fill(tensor, value)
    }

    public func update(_ target: Tensor, _ update: InPlaceUpdate, _ operands: [Tensor]) -> Bool {
        switch target.dtype {
        case .float32: UpdateKernels.run(update, target, operands, Float.self)
        case .float64: UpdateKernels.run(update, target, operands, Double.self)
        default: return false
        }
        return true
    }

    /// oneDNN reorders an input into a primitive's layout once for all the primitives of `body`.
    public func sharingInputWork<T>(_ body: () -> T) -> T {
        OneDNN.shared.reusingInputConversions(body)
    }

    /// A dense copy of `x`, or `x` itself when already dense. Kernel-internal: not recorded.
    func contiguous(_ x: Tensor) -> Tensor {
        if x.isContiguous { return x }
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype, on: self)
        ElementwiseKernels.copy(x, out)
        return out
    }

    /// `x` converted to `dtype` (kernel-internal, not recorded).
    func converted(_ x: Tensor, to dtype: DType) -> Tensor {
        if x.dtype == dtype { return x }
        let out = Tensor(uninitializedShape: x.shape, dtype: dtype, on: self)
        ElementwiseKernels.cast(x, out)
        return out
    }

    public func execute(_ primitive: Primitive, inputs: [Tensor], outputs: [Tensor]) {
        execute(primitive, inputs: inputs, outputs: outputs, fixed: [])
    }

    /// Fixed convolution weights are converted to oneDNN's layout once (see `OneDNN.execute`).
    public func execute(_ primitive: Primitive, inputs: [Tensor], outputs: [Tensor], fixed: Set<Int>) {
        if primitive.computesInFloat32ForHalfTypes,
           inputs.contains(where: { $0.dtype.isHalf }) || outputs.contains(where: { $0.dtype.isHalf }),
           !runsInBFloat16(primitive, inputs, outputs) {
            if let program = primitive.bfloat16ElementwiseProgram(inputs, outputs) {
                if program.isBFloat16ChannelAffine && FusedKernels.bfloat16ChannelAffine(inputs, outputs[0]) { return }
                return FusedEvaluation<Float>(program, inputs, outputs).run(self)
            }
            // Half types are stored natively and computed in float32, as PyTorch's CPU kernels do.
            Profiler.current?.noteFloat32Copies()
            let wideInputs = inputs.map { $0.dtype.isHalf ? converted($0, to: .float32) : $0 }
            let wideOutputs = outputs.map { $0.dtype.isHalf ? Tensor(uninitializedShape: $0.shape, dtype: .float32, on: self) : $0 }
            run(primitive, wideInputs, wideOutputs, fixed: [])
            for (output, wide) in zip(outputs, wideOutputs) where output !== wide {
                ElementwiseKernels.cast(wide, output)
            }
            return
        }
        run(primitive, inputs, outputs, fixed: fixed)
    }

    /// Matrix products and convolutions whose operands are bfloat16 run on oneDNN's bf16
    /// kernels (f32 accumulation) where the CPU has bf16 instructions; elsewhere oneDNN would
    /// emulate them, slower than float32, so they are computed in float32 (said once).
    private func runsInBFloat16(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor]) -> Bool {
        guard primitive.hasBFloat16Kernel(inputs, outputs) else { return false }
        if OneDNN.hasNativeBFloat16 { return true }
        OneDNN.warnNoNativeBFloat16Once()
        return false
    }

    private func run(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor], fixed: Set<Int>) {
        let out = outputs[0]
        switch primitive {
        case .unary(let op): ElementwiseKernels.unary(op, inputs[0], out)
        case .binary(let op): ElementwiseKernels.binary(op, inputs[0], inputs[1], out)
        case .compare(let op): ElementwiseKernels.compare(op, inputs[0], inputs[1], out)
        case .select: ElementwiseKernels.select(inputs[0], inputs[1], inputs[2], out)
        case .cast: ElementwiseKernels.cast(inputs[0], out)
        case .reduce(let op, let axes, _): ReduceKernels.reduce(op, inputs[0], axes: axes, out, backend: self)
        case .argReduce(let op, let axis, _): ReduceKernels.argReduce(op, inputs[0], axis: axis, out, backend: self)
        case .reshape:
            // A reshape that cannot be a view: the elements in row-major order.
            ElementwiseKernels.copy(inputs[0], out.sameLayout(shape: inputs[0].shape, strides: ShapeMath.contiguousStrides(inputs[0].shape)))
        case .permute, .expand, .slice:
            ElementwiseKernels.copy(Movement.view(primitive, inputs[0])!, out)
        case .copy: ElementwiseKernels.copy(inputs[0], out)
        case .pad(let padding, let value): MovementKernels.pad(inputs[0], padding, value, out)
        case .concat(let axis): MovementKernels.concat(inputs, axis: axis, out)
        case .flip(let axes): MovementKernels.flip(inputs[0], axes: axes, out)
        case .gather(let axis): IndexingKernels.gather(inputs[0], inputs[1], axis: axis, out)
        case .scatterAdd(let axis): IndexingKernels.scatterAdd(inputs[0], inputs[1], inputs[2], axis: axis, out, backend: self)
        case .indexSelect(let axis): IndexingKernels.indexSelect(inputs[0], inputs[1], axis: axis, out, backend: self)
        case .indexAdd(let axis): IndexingKernels.indexAdd(inputs[0], inputs[1], inputs[2], axis: axis, out, backend: self)
        case .matmul: MatmulKernel.matmul(inputs[0], inputs[1], out, backend: self)
        case .conv2d(let c): ConvolutionKernels.forward(c, inputs, out, fixedWeight: fixed.contains(1), backend: self)
        case .conv2dBackwardInput(let c, _): ConvolutionKernels.backwardInput(c, inputs[0], inputs[1], out, backend: self)
        case .conv2dBackwardWeight(let c, _): ConvolutionKernels.backwardWeight(c, inputs[0], inputs[1], out, backend: self)
        case .maxPool2d(let c): PoolingKernels.maxForward(c, inputs[0], out, backend: self)
        case .maxPool2dBackward(let c): PoolingKernels.maxBackward(c, inputs[0], inputs[1], out, backend: self)
        case .avgPool2d(let c): PoolingKernels.avgForward(c, inputs[0], out, backend: self)
        case .avgPool2dBackward(let c, _): PoolingKernels.avgBackward(c, inputs[0], out, backend: self)
        case .batchNorm(let e): NormalizationKernels.batchNorm(e, inputs, outputs, backend: self)
        case .batchNormBackward(let e): NormalizationKernels.batchNormBackward(e, inputs, outputs, backend: self)
        case .layerNorm(let axes, let e): NormalizationKernels.layerNorm(axes, e, inputs, outputs, backend: self)
        case .layerNormBackward(let axes, let e): NormalizationKernels.layerNormBackward(axes, e, inputs, outputs, backend: self)
        case .attention(let c): AttentionKernels.forward(c, inputs, outputs, backend: self)
        case .attentionBackward(let c): AttentionKernels.backward(c, inputs, outputs, backend: self)
        case .recurrence(let c): RecurrenceKernels.forward(c, inputs, outputs, backend: self)
        case .recurrenceBackward(let c): RecurrenceKernels.backward(c, inputs, outputs, backend: self)
        case .randomBits(_, let stream): RandomKernels.bits(contiguous(inputs[0]), stream, out)
        case .cumsum(let axis, let reverse): ReduceKernels.cumsum(contiguous(inputs[0]), axis: axis, reverse: reverse, out)
        case .argsort(let axis, let descending): SortKernels.argsort(contiguous(inputs[0]), axis: axis, descending: descending, out)
        case .stopGradient: ElementwiseKernels.copy(inputs[0], out)
        case .custom: preconditionFailure("custom functions run through Dispatch.launch, not a backend kernel")
        case .fused(let program): FusedKernels.run(program, inputs, outputs, fixedWeight: fixed.contains(1), backend: self)
        }
    }
}

extension Primitive {
    /// Whether oneDNN has bf16 kernels (f32 accumulation) for these operands (pooling forward too): all bfloat16,
    /// except that a convolution may write float32 (compile's `HalfConvolutionOutput`), and
    /// so may one heading a fused program, whose other operands are float32 then (its
    /// activations and residual add are oneDNN post-ops, computed in float32).
    func hasBFloat16Kernel(_ inputs: [Tensor], _ outputs: [Tensor]) -> Bool {
        // A convolution's bias may be float32 (a folded batch norm's); the kernel converts it.
        let half = { (t: Tensor) in t.dtype == .bfloat16 }, halfOrFloat = { (t: Tensor) in half(t) || t.dtype == .float32 }
        switch self {
        case .matmul, .conv2dBackwardInput, .conv2dBackwardWeight, .maxPool2d, .avgPool2d:
            return inputs.allSatisfy(half) && outputs.allSatisfy(half)
        case .conv2d:
            return inputs.prefix(2).allSatisfy(half) && (inputs.dropFirst(2) + outputs).allSatisfy(halfOrFloat)
        case .fused(let program) where program.head != nil:
            let head = inputs.prefix(program.headInputCount)
            return head.prefix(2).allSatisfy(half) && head.dropFirst(2).allSatisfy(halfOrFloat)
                && (inputs.dropFirst(program.headInputCount) + outputs).allSatisfy { $0.dtype == .float32 }
        default:
            return false
        }
    }

    /// Elementwise work on bfloat16 (alone or with float32 and bool) as a register program
    /// that the fused interpreter runs in one pass: bfloat16 widened in registers, computed
    /// in float32 and rounded once when stored, instead of float32 copies of every operand
    /// and of the result. nil for anything else (float16, reductions, heads and tails).
    func bfloat16ElementwiseProgram(_ inputs: [Tensor], _ outputs: [Tensor]) -> FusedProgram? {
        guard outputs.count == 1, (inputs + outputs).allSatisfy({ [.bfloat16, .float32, .bool].contains($0.dtype) }) else {
            return nil
        }
        let domain = outputs[0].shape
        switch self {
        case .unary(let op): return FusedProgram(domain: domain, operandCount: 1, instructions: [.unary(op, 0)], outputs: [1])
        case .binary(let op): return FusedProgram(domain: domain, operandCount: 2, instructions: [.binary(op, 0, 1)], outputs: [2])
        case .compare(let op): return FusedProgram(domain: domain, operandCount: 2, instructions: [.compare(op, 0, 1)], outputs: [2])
        case .fused(let program) where program.head == nil && program.tail == nil: return program
        default: return nil
        }
    }

    /// Primitives that do arithmetic; the others move elements bit-exactly in any dtype.
    var computesInFloat32ForHalfTypes: Bool {
        switch self {
        case .unary, .binary, .compare, .reduce, .argReduce, .scatterAdd, .indexAdd, .matmul,
             .conv2d, .conv2dBackwardInput, .conv2dBackwardWeight, .maxPool2d, .maxPool2dBackward,
             .avgPool2d, .avgPool2dBackward, .batchNorm, .batchNormBackward, .layerNorm, .layerNormBackward, .fused,
             .cumsum, .argsort, .attention, .attentionBackward, .recurrence, .recurrenceBackward:
            return true
        case .select, .cast, .reshape, .permute, .expand, .slice, .pad, .concat, .flip, .copy, .gather, .indexSelect,
             .randomBits, .stopGradient, .custom:
            return false
        }
    }
}
