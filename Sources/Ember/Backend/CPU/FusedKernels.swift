import CEmberVectorMath
import COneDNN

/// The fused primitive's kernel: an interpreter for its register program that runs each
/// instruction over a block of elements (SIMD16 vectors), so one pass over memory
/// evaluates the whole chain while every register stays in L1. Booleans live in the
/// registers as 0 and 1 of the compute type; a reduction or layer-norm tail consumes the
/// output register block by block instead of writing it out.
enum FusedKernels {
    /// `fixedWeight`: a head's weight (input 1) is a fixed value.
    static func run(_ program: FusedProgram, _ inputs: [Tensor], _ outputs: [Tensor], fixedWeight: Bool = false,
                    backend: CPUBackend) {
        if program.head != nil {
            return runWithHead(program, inputs, outputs, fixedWeight: fixedWeight, backend: backend)
        }
        // The fusion pass puts one floating-point type in a program (plus bool).
        if (inputs + outputs).contains(where: { $0.dtype == .float64 }) {
            FusedEvaluation<Double>(program, inputs, outputs).run(backend)
        } else {
            FusedEvaluation<Float>(program, inputs, outputs).run(backend)
        }
    }
}

extension FusedKernels {
    /// `FusedProgram.bfloat16ChannelAffine` (inference batch norm of a bfloat16 input) when
    /// x and y are dense row-major and the scale and shift hold one value per channel: each
    /// [H·W] plane scaled and shifted by its channel's constants. The interpreter pays a
    /// fixed cost per row of the domain, and batch norm's rows are short (49 elements at 7×7).
    /// false (nothing done) for other layouts.
    static func bfloat16ChannelAffine(_ inputs: [Tensor], _ out: Tensor) -> Bool {
        let x = inputs[0], scale = inputs[1], shift = inputs[2]
        guard x.rank >= 2, x.dtype == .bfloat16, out.dtype == .bfloat16, out.shape == x.shape, x.isContiguous, out.isContiguous
        else { return false }
        let channels = x.shape[1]
        var perChannel = [Int](repeating: 1, count: x.rank)
        perChannel[1] = channels
        guard [scale, shift].allSatisfy({ $0.dtype == .float32 && $0.shape == perChannel && $0.isContiguous }) else { return false }
        let plane = x.shape.dropFirst(2).reduce(1, *)
        let px = x.pointer(UInt16.self), py = out.pointer(UInt16.self), pa = scale.pointer(Float.self), pb = shift.pointer(Float.self)
        Parallel.forRange(x.shape[0] * channels, cost: plane) { planes in
            for p in planes {
                let a = pa[p % channels], b = pb[p % channels]
                let source = px + p * plane, target = py + p * plane
                for i in 0..<plane { target[i] = BFloat16(Float(bitPattern: UInt32(source[i]) << 16) * a + b).bitPattern }
            }
        }
        return true
    }

    /// oneDNN's eltwise algorithm for each unary operation a convolution can apply to its
    /// result as a post-op (exact forms: erf GELU, logistic sigmoid).
    static let postOpAlgorithms: [UnaryOp: dnnl_alg_kind_t] = [
        .relu: dnnl_eltwise_relu, .tanh: dnnl_eltwise_tanh, .sigmoid: dnnl_eltwise_logistic,
        .gelu: dnnl_eltwise_gelu_erf, .exp: dnnl_eltwise_exp, .abs: dnnl_eltwise_abs, .sqrt: dnnl_eltwise_sqrt,
    ]

    /// The post-ops standing for a chain of unary operations, when oneDNN runs them all.
    static func postOps(_ chain: [UnaryOp]) -> [OneDNN.PostOp]? {
        let algorithms = chain.compactMap { postOpAlgorithms[$0] }
        return algorithms.count == chain.count ? algorithms.map { .eltwise($0) } : nil
    }

    /// The head's result, then the program over it. A float32 convolution (or a bfloat16
    /// one writing float32) followed by a
    /// chain of unary operations oneDNN knows runs as one primitive with post-ops, the
    /// chain applied while the result is in registers; so does one whose result is added
    /// to a residual first (a sum post-op, in place when the output is the residual's
    /// memory, as compile's memory plan arranges). Anything else computes the head into a
    /// tensor of the output's layout and runs the rest of the program on it.
    static func runWithHead(_ program: FusedProgram, _ inputs: [Tensor], _ outputs: [Tensor], fixedWeight: Bool,
                            backend: CPUBackend) {
        if case .matmul(let epilogue) = program.head {
            return LinearKernels.run(epilogue, inputs, outputs[0], fixedWeight: fixedWeight, backend: backend)
        }
        guard case .conv2d(let config, _) = program.head else { preconditionFailure("fused: no head") }
        let headInputs = Array(inputs.prefix(program.headInputCount))
        let out = outputs[0]
        if out.dtype == .float32, let chain = program.unaryChain, let post = postOps(chain) {
            ConvolutionKernels.forward(config, headInputs, out, postOps: post, fixedWeight: fixedWeight, backend: backend)
            return
        }
        if out.dtype == .float32, let (operand, chain) = program.residualChain, let post = postOps(chain) {
            let residual = inputs[program.headInputCount + operand - 1]
            if residual.shape == out.shape && residual.dtype == .float32 {
                let inPlace = residual.storage === out.storage && residual.offset == out.offset && residual.strides == out.strides
                if !inPlace { ElementwiseKernels.copy(residual, out) }
                if ConvolutionKernels.forward(config, headInputs, out, postOps: [.sum] + post, fixedWeight: fixedWeight,
                                              backend: backend) {
                    return
                }
                // oneDNN would write through a reorder: computed below (in place too, the
                // program reads each residual element before writing it).
            }
        }
        let shape = ConvolutionKernels.Geometry(config, input: headInputs[0].shape, weight: headInputs[1].shape).output
        // A bfloat16 convolution writes float32 here, the type the rest of the program computes in.
        let dtype = headInputs[0].dtype == .bfloat16 ? DType.float32 : headInputs[0].dtype
        // The head's result in the layout of the output, so the pass over it runs in memory order.
        let layout = outputs.count == 1 && shape == outputs[0].shape ? ImageLayout(outputs[0]) ?? .nchw : .nchw
        let headResult = Tensor(storage: backend.allocate(byteCount: ShapeMath.count(shape) * dtype.byteSize), shape: shape,
                                strides: layout.strides(shape), offset: 0, dtype: dtype)
        ConvolutionKernels.forward(config, headInputs, headResult, fixedWeight: fixedWeight, backend: backend)
        var rest = program
        rest.head = nil
        run(rest, [headResult] + inputs.dropFirst(program.headInputCount), outputs, backend: backend)
    }
}

/// Float types the interpreter computes in, with their vector transcendental functions
/// (Codable as SIMD16 of them is: the compiler asks for that refinement).
protocol FusedFloat: KernelFloat, SIMDScalar, TensorScalar, Codable {
    /// y[i] = function(x[i]) for i in 0..<count.
    static func vectorMath(_ function: EmberVectorFunction, _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, _ count: Int)
}

extension Float: FusedFloat {
    static func vectorMath(_ function: EmberVectorFunction, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ count: Int) {
        VectorMath.apply(function, x, y, count)
    }
}

extension Double: FusedFloat {
    static func vectorMath(_ function: EmberVectorFunction, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                           _ count: Int) {
        switch function {
        case .exp: for i in 0..<count { y[i] = Double.exp(x[i]) }
        case .tanh: for i in 0..<count { y[i] = Double.tanh(x[i]) }
        // Both branches avoid overflow of exp, as the unfused kernel.
        case .sigmoid:
            for i in 0..<count { y[i] = x[i] >= 0 ? 1 / (1 + Double.exp(-x[i])) : Double.exp(x[i]) / (1 + Double.exp(x[i])) }
        case .erf: for i in 0..<count { y[i] = Double.erf(x[i]) }
        case .gelu: for i in 0..<count { y[i] = 0.5 * x[i] * (1 + Double.erf(x[i] * 0.7071067811865476)) }
        }
    }
}

struct FusedEvaluation<T: FusedFloat> {
    typealias V = SIMD16<T>
    let program: FusedProgram
    let inputs: [Tensor]
    let outputs: [Tensor]
    /// Elements per instruction dispatch; smaller for long programs so registers fit in cache.
    let block: Int

    init(_ program: FusedProgram, _ inputs: [Tensor], _ outputs: [Tensor]) {
        self.program = program
        self.inputs = inputs
        self.outputs = outputs
        block = program.registerCount > 48 ? 64 : program.registerCount > 16 ? 256 : 1024
    }

    /// Relative work per element, for the decision to use threads.
    var cost: Int { 2 * program.instructions.count + 1 }

    // MARK: Registers

    /// One thread's register file: a pointer per register, to its scratch block or (for
    /// dense operands and outputs of the compute type) straight into the tensor's memory.
    struct Registers {
        let pointers: UnsafeMutablePointer<UnsafeMutablePointer<T>>
        let scratch: UnsafeMutablePointer<T>
        let block: Int

        func scratch(_ r: Int) -> UnsafeMutablePointer<T> { scratch + r * block }
    }

    func withRegisters<R>(_ body: (Registers) -> R) -> R {
        let count = program.registerCount
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<T>>.allocate(capacity: count)
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: count * block)
        defer {
            pointers.deallocate()
            scratch.deallocate()
        }
        let registers = Registers(pointers: pointers, scratch: scratch, block: block)
        for r in 0..<count { pointers[r] = registers.scratch(r) }
        return body(registers)
    }

    /// Evaluates the program on `n` (<= block) elements: operand k's first element is at
    /// element offset `offsets[k]`, the next ones `steps[k]` apart. With `directOutputOffset`,
    /// a full block of an output of the compute type is computed straight into the output.
    @inline(__always)
    func evaluate(_ registers: Registers, _ offsets: UnsafePointer<Int>, _ steps: UnsafePointer<Int>, _ n: Int,
                  directOutputOffset: Int? = nil) {
        let vectors = (n + 15) / 16
        let full = n == vectors * 16
        for k in 0..<program.operandCount {
            let input = inputs[k]
            if full && steps[k] == 1 && input.dtype == T.dtype {
                registers.pointers[k] = input.pointer(T.self) + offsets[k]
            } else {
                registers.pointers[k] = registers.scratch(k)
                load(input, offsets[k], steps[k], n, into: registers.scratch(k), padTo: vectors * 16)
            }
        }
        for (k, r) in program.outputs.enumerated() where r >= program.operandCount {
            if let at = directOutputOffset, full, outputs[k].dtype == T.dtype {
                registers.pointers[r] = outputs[k].pointer(T.self) + at
            } else {
                registers.pointers[r] = registers.scratch(r)
            }
        }
        let base = program.operandCount
        for (k, instruction) in program.instructions.enumerated() {
            execute(instruction, registers.pointers, registers.pointers[base + k], vectors)
        }
    }

    /// Operand elements into a register block, converted to T (bool as 0 and 1).
    func load(_ input: Tensor, _ offset: Int, _ step: Int, _ n: Int, into target: UnsafeMutablePointer<T>, padTo padded: Int) {
        switch input.dtype {
        case .bool:
            let source = input.pointer(Bool.self) + offset
            for i in 0..<n { target[i] = source[i &* step] ? 1 : 0 }
        case .bfloat16 where T.self == Float.self:
            // Widened in registers: the upper 16 bits of a float32.
            let source = input.pointer(UInt16.self) + offset
            let floats = UnsafeMutableRawPointer(target).assumingMemoryBound(to: Float.self)
            if step == 1 {
                for i in 0..<n { floats[i] = Float(bitPattern: UInt32(source[i]) << 16) }
            } else {
                for i in 0..<n { floats[i] = Float(bitPattern: UInt32(source[i &* step]) << 16) }
            }
        default:
            let source = input.pointer(T.self) + offset
            if step == 0 {
                target.update(repeating: source[0], count: n)
            } else {
                for i in 0..<n { target[i] = source[i &* step] }
            }
        }
        for i in n..<padded { target[i] = 0 }
    }

    /// A register's first `n` elements into an output (bool as nonzero).
    func store(_ source: UnsafeMutablePointer<T>, _ n: Int, to output: Tensor, at offset: Int) {
        if output.dtype == .bool {
            let target = output.pointer(Bool.self) + offset
            for i in 0..<n { target[i] = source[i] != 0 }
        } else if output.dtype == .bfloat16 && T.self == Float.self {
            // Rounded once, from the float32 register.
            let target = output.pointer(UInt16.self) + offset
            let floats = UnsafeRawPointer(source).assumingMemoryBound(to: Float.self)
            for i in 0..<n { target[i] = BFloat16(floats[i]).bitPattern }
        } else {
            let target = output.pointer(T.self) + offset
            if target != source { target.update(from: source, count: n) }
        }
    }

    // MARK: Instructions

    @inline(__always)
    static func lanes(_ x: V, _ f: (T) -> T) -> V {
        var result = x
        for i in 0..<16 { result[i] = f(x[i]) }
        return result
    }

    @inline(__always)
    static func flag(_ mask: SIMDMask<V.MaskStorage>) -> V {
        V(repeating: 0).replacing(with: 1, where: mask)
    }

    @inline(__always)
    func map(_ a: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ vectors: Int, _ f: (V) -> V) {
        for v in 0..<vectors {
            let x = UnsafeRawPointer(a + v &* 16).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(o + v &* 16).storeBytes(of: f(x), as: V.self)
        }
    }

    /// A lane-wise choice as a plain loop over the elements, which the compiler turns into
    /// vector selects; written with `replacing(with:where:)` on SIMD16 it became a loop over
    /// the lanes (relu took 12x the time of an add).
    @inline(__always)
    func mapElements(_ a: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ vectors: Int, _ f: (T) -> T) {
        for i in 0..<(vectors &* 16) { o[i] = f(a[i]) }
    }

    @inline(__always)
    func zip(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ vectors: Int,
             _ f: (V, V) -> V) {
        for v in 0..<vectors {
            let x = UnsafeRawPointer(a + v &* 16).loadUnaligned(as: V.self)
            let y = UnsafeRawPointer(b + v &* 16).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(o + v &* 16).storeBytes(of: f(x, y), as: V.self)
        }
    }

    func execute(_ instruction: FusedProgram.Instruction, _ r: UnsafeMutablePointer<UnsafeMutablePointer<T>>,
                 _ o: UnsafeMutablePointer<T>, _ vectors: Int) {
        switch instruction {
        case .unary(let op, let a): unary(op, r[a], o, vectors)
        case .binary(let op, let a, let b): binary(op, r[a], r[b], o, vectors)
        case .compare(let op, let a, let b): compare(op, r[a], r[b], o, vectors)
        case .select(let c, let a, let b):
            let pc = r[c], pa = r[a], pb = r[b]
            for v in 0..<vectors {
                let condition = UnsafeRawPointer(pc + v &* 16).loadUnaligned(as: V.self)
                let x = UnsafeRawPointer(pa + v &* 16).loadUnaligned(as: V.self)
                let y = UnsafeRawPointer(pb + v &* 16).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(o + v &* 16).storeBytes(of: y.replacing(with: x, where: condition .!= 0), as: V.self)
            }
        case .cast(let dtype, let a):
            // Casts between the compute type and bool (already 0 and 1), and float32 <->
            // bfloat16 (registers hold bfloat16 values as float32: a cast to it rounds).
            if dtype == .bool {
                map(r[a], o, vectors) { Self.flag($0 .!= 0) }
            } else if dtype == .bfloat16 && T.self == Float.self {
                let source = UnsafeRawPointer(r[a]).assumingMemoryBound(to: Float.self)
                let target = UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self)
                for i in 0..<(vectors &* 16) { target[i] = BFloat16(source[i]).floatValue }
            } else {
                map(r[a], o, vectors) { $0 }
            }
        }
    }

    func unary(_ op: UnaryOp, _ a: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ n: Int) {
        switch op {
        case .neg: map(a, o, n) { -$0 }
        case .abs: mapElements(a, o, n) { $0 < 0 ? -$0 : $0 }
        case .sign: map(a, o, n) { x in x.replacing(with: 1, where: x .> 0).replacing(with: -1, where: x .< 0) }
        case .exp: T.vectorMath(.exp, a, o, n &* 16)
        case .log: map(a, o, n) { Self.lanes($0, T.log) }
        case .sqrt: map(a, o, n) { $0.squareRoot() }
        case .rsqrt: map(a, o, n) { 1 / $0.squareRoot() }
        case .sin: map(a, o, n) { Self.lanes($0, T.sin) }
        case .cos: map(a, o, n) { Self.lanes($0, T.cos) }
        case .tanh: T.vectorMath(.tanh, a, o, n &* 16)
        case .sigmoid: T.vectorMath(.sigmoid, a, o, n &* 16)
        case .relu: mapElements(a, o, n) { $0 > 0 ? $0 : 0 }
        case .erf: T.vectorMath(.erf, a, o, n &* 16)
        case .gelu: T.vectorMath(.gelu, a, o, n &* 16)
        case .floor: map(a, o, n) { $0.rounded(.down) }
        case .ceil: map(a, o, n) { $0.rounded(.up) }
        case .round: map(a, o, n) { $0.rounded(.toNearestOrEven) }
        case .logicalNot: map(a, o, n) { Self.flag($0 .== 0) }
        }
    }

    func binary(_ op: BinaryOp, _ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ n: Int) {
        if T.self == Float.self, let function = ElementwiseKernels.vectorBinary(op) {
            return ember_vector_binary(function, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), 1,
                                       UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), 1,
                                       UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self), n &* 16)
        }
        switch op {
        case .add: zip(a, b, o, n) { $0 + $1 }
        case .sub: zip(a, b, o, n) { $0 - $1 }
        case .mul: zip(a, b, o, n) { $0 * $1 }
        case .div: zip(a, b, o, n) { $0 / $1 }
        case .pow:
            zip(a, b, o, n) { x, y in
                var result = x
                for i in 0..<16 { result[i] = T.pow(x[i], y[i]) }
                return result
            }
        // NaN propagates, as in the unfused kernels.
        case .maximum: zip(a, b, o, n) { x, y in y.replacing(with: x, where: (x .> y) .| (x .!= x)) }
        case .minimum: zip(a, b, o, n) { x, y in y.replacing(with: x, where: (x .< y) .| (x .!= x)) }
        case .logicalAnd: zip(a, b, o, n) { Self.flag(($0 .!= 0) .& ($1 .!= 0)) }
        case .logicalOr: zip(a, b, o, n) { Self.flag(($0 .!= 0) .| ($1 .!= 0)) }
        case .logicalXor: zip(a, b, o, n) { Self.flag(($0 .!= 0) .^ ($1 .!= 0)) }
        }
    }

    func compare(_ op: CompareOp, _ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ o: UnsafeMutablePointer<T>, _ n: Int) {
        switch op {
        case .equal: zip(a, b, o, n) { Self.flag($0 .== $1) }
        case .notEqual: zip(a, b, o, n) { Self.flag($0 .!= $1) }
        case .less: zip(a, b, o, n) { Self.flag($0 .< $1) }
        case .lessEqual: zip(a, b, o, n) { Self.flag($0 .<= $1) }
        case .greater: zip(a, b, o, n) { Self.flag($0 .> $1) }
        case .greaterEqual: zip(a, b, o, n) { Self.flag($0 .>= $1) }
        }
    }

    // MARK: Iteration

    /// The program's operands' strides, broadcast to the domain.
    func operandStrides() -> [[Int]] {
        inputs.prefix(program.operandCount).map { StridedLoop.broadcastStrides($0, to: program.domain) }
    }

    func run(_ backend: CPUBackend) {
        switch program.tail {
        case nil: runElementwise()
        case .reduce(let op, let axes, _): runReduction(op, axes)
        case .layerNorm(let axes, let epsilon): runLayerNorm(axes, epsilon, backend)
        }
    }

    /// Rows of the domain in the outputs' memory order, each in blocks. The outputs are
    /// dense and share one layout: row-major, or another axis order (channels-last).
    func runElementwise() {
        let outputStrides = outputs[0].strides
        precondition(outputs.allSatisfy { $0.strides == outputStrides }, "fused: outputs of different layouts")
        let loop = StridedLoop.inOutputOrder(shape: program.domain, strides: [outputStrides] + operandStrides())
        let operands = program.operandCount
        let steps = (0..<operands).map { loop.rowStride($0 + 1) }
        guard loop.rowCount > 0 else { return }
        steps.withUnsafeBufferPointer { steps in
            loop.run(cost: cost) { offsets, length in
                withRegisters { registers in
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { at in
                        var start = 0
                        while start < length {
                            let n = Swift.min(block, length - start)
                            for k in 0..<operands { at[k] = offsets[k + 1] + start * steps[k] }
                            let outputAt = offsets[0] + start
                            evaluate(registers, UnsafePointer(at.baseAddress!), steps.baseAddress!, n, directOutputOffset: outputAt)
                            for (k, r) in program.outputs.enumerated() {
                                store(registers.pointers[r], n, to: outputs[k], at: outputAt)
                            }
                            start += n
                        }
                    }
                }
            }
        }
    }

    /// The domain split into kept axes (those of the result) and reduced axes, each merged
    /// where the operands allow.
    struct Split {
        let kept: StridedLoop
        let reduced: StridedLoop
        var keptCount: Int { kept.rowCount * kept.rowLength }
    }

    func split(reduced axes: [Int]) -> Split {
        let strides = operandStrides()
        let keptAxes = program.domain.indices.filter { !axes.contains($0) }
        func loop(_ chosen: [Int]) -> StridedLoop {
            StridedLoop(shape: chosen.map { program.domain[$0] }, strides: strides.map { s in chosen.map { s[$0] } })
        }
        return Split(kept: loop(keptAxes), reduced: loop(axes))
    }

    /// Element offsets of every operand at flat position `index` of `loop`.
    @inline(__always)
    static func offsets(_ loop: StridedLoop, _ index: Int, adding base: UnsafePointer<Int>, into out: UnsafeMutablePointer<Int>) {
        var rest = index
        for k in 0..<loop.strides.count { out[k] = base[k] }
        var axis = loop.shape.count - 1
        while axis >= 0 {
            let i = rest % loop.shape[axis]
            rest /= loop.shape[axis]
            for k in 0..<loop.strides.count { out[k] += i * loop.strides[k][axis] }
            axis -= 1
        }
    }

    /// Evaluates the output register over reduced positions `rows` (rows of the reduced
    /// loop) of kept position `keptIndex`, calling `consume(register, n, position)` per block.
    func walk(_ s: Split, keptIndex: Int, rows: Range<Int>, _ registers: Registers,
              _ consume: (UnsafeMutablePointer<T>, Int, Int) -> Void) {
        let operands = program.operandCount
        let length = s.reduced.rowLength
        let output = program.outputs[0]
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * operands) { scratch in
            let zero = scratch.baseAddress!, keptAt = zero + operands, at = keptAt + operands, steps = at + operands
            for k in 0..<operands {
                zero[k] = 0
                steps[k] = s.reduced.rowStride(k)
            }
            Self.offsets(s.kept, keptIndex, adding: UnsafePointer(zero), into: keptAt)
            for row in rows {
                Self.offsets(s.reduced, row * length, adding: UnsafePointer(keptAt), into: at)
                var start = 0
                while start < length {
                    let n = Swift.min(block, length - start)
                    if start > 0 { for k in 0..<operands { at[k] += block * steps[k] } }
                    evaluate(registers, UnsafePointer(at), UnsafePointer(steps), n)
                    consume(registers.pointers[output], n, row * length + start)
                    start += n
                }
            }
        }
    }

    /// A reduction of the output register: each result folds its reduced positions with
    /// sixteen lane accumulators; a single result is split across threads in pieces.
    func runReduction(_ op: ReduceOp, _ axes: [Int]) {
        let s = split(reduced: axes)
        let results = s.keptCount
        let rows = s.reduced.rowCount
        let identity: T
        switch op {
        case .sum: identity = 0
        case .prod: identity = 1
        case .max: identity = -.infinity
        case .min: identity = .infinity
        }
        func combine(_ a: V, _ b: V) -> V {
            switch op {
            case .sum: return a + b
            case .prod: return a * b
            case .max: return a.replacing(with: b, where: (b .> a) .| (b .!= b))
            case .min: return a.replacing(with: b, where: (b .< a) .| (b .!= b))
            }
        }
        let pieces = results >= Parallel.coreCount ? 1 : Swift.max(1, Swift.min(Parallel.coreCount, rows))
        var partial = [V](repeating: V(repeating: identity), count: results * pieces)
        partial.withUnsafeMutableBufferPointer { partial in
            Parallel.forRange(results * pieces, cost: cost * s.reduced.rowLength * Swift.max(rows, 1) / pieces) { range in
                withRegisters { registers in
                    for item in range {
                        let result = item / pieces, piece = item % pieces
                        var accumulator = V(repeating: identity)
                        walk(s, keptIndex: result, rows: (rows * piece / pieces)..<(rows * (piece + 1) / pieces), registers) { p, n, _ in
                            var v = 0
                            while v * 16 < n {
                                var x = UnsafeRawPointer(p + v &* 16).loadUnaligned(as: V.self)
                                // Lanes past the end hold the program's value at zero: the identity replaces them.
                                for lane in Swift.min(n - v * 16, 16)..<16 { x[lane] = identity }
                                accumulator = combine(accumulator, x)
                                v += 1
                            }
                        }
                        partial[item] = accumulator
                    }
                }
            }
            let out = outputs[0]
            for result in 0..<results {
                var total = partial[result * pieces]
                for piece in 1..<pieces { total = combine(total, partial[result * pieces + piece]) }
                var value = total[0]
                for lane in 1..<16 { value = combine(V(repeating: value), V(repeating: total[lane]))[0] }
                out.pointer(T.self)[result] = value
            }
        }
    }

    /// The sum of `f` over n elements, in sixteen lanes (the tail's missing lanes add zero).
    @inline(__always)
    static func sum(_ p: UnsafeMutablePointer<T>, _ n: Int, _ f: (V) -> V) -> T {
        var accumulator = V(repeating: 0)
        var i = 0
        while i + 16 <= n {
            accumulator += f(UnsafeRawPointer(p + i).loadUnaligned(as: V.self))
            i += 16
        }
        var total = accumulator.sum()
        while i < n {
            total += f(V(repeating: p[i]))[0]
            i += 1
        }
        return total
    }

    /// Layer normalization of the output register: each row of the normalized axes is
    /// evaluated into its output row, which stays in cache while it is normalized (two passes for
    /// the statistics, as the unfused kernel).
    func runLayerNorm(_ axes: Int, _ epsilon: Double, _ backend: CPUBackend) {
        let normalizedAxes = Array((program.domain.count - axes)..<program.domain.count)
        let s = split(reduced: normalizedAxes)
        let rows = s.keptCount
        let d = ShapeMath.count(Array(program.domain.suffix(axes)))
        let weight = backend.contiguous(inputs[program.operandCount]), bias = backend.contiguous(inputs[program.operandCount + 1])
        let pw = weight.pointer(T.self), pb = bias.pointer(T.self)
        let py = outputs[0].pointer(T.self), pm = outputs[1].pointer(T.self), pv = outputs[2].pointer(T.self)
        let reducedRows = s.reduced.rowCount
        Parallel.forRange(rows, cost: cost * d) { range in
            withRegisters { registers in
                for row in range {
                    // The output row holds the program's value until it is normalized in place.
                    let y = py + row * d
                    walk(s, keptIndex: row, rows: 0..<reducedRows, registers) { p, n, position in
                        (y + position).update(from: p, count: n)
                    }
                    let mean = Self.sum(y, d) { $0 } / T(d)
                    let variance = Self.sum(y, d) { ($0 - mean) * ($0 - mean) } / T(d)
                    let inverseStd = 1 / T.sqrt(variance + T(epsilon))
                    for k in 0..<d { y[k] = (y[k] - mean) * inverseStd * pw[k] + pb[k] }
                    pm[row] = mean
                    pv[row] = variance
                }
            }
        }
    }
}
