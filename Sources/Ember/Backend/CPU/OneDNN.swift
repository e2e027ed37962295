import CEmberSupport
import COneDNN
import Foundation

/// The oneDNN engine and stream, and a cache of created primitives: creating a primitive
/// costs far more than running it on small inputs, so each is built once per shape,
/// layout and attributes, with its memory objects, and reused with new data pointers.
final class OneDNN: @unchecked Sendable {
    static let shared = OneDNN()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    /// A created primitive with one memory object per argument it reads or writes.
    final class Entry {
        let primitive: dnnl_primitive_t
        let primitiveDesc: dnnl_primitive_desc_t
        var memories: [Int32: dnnl_memory_t]
        /// Arguments the primitive holds in a layout of its own, by argument.
        let conversions: [Int32: Conversion]
        /// Fixed inputs already converted to the primitive's layout, by argument and source.
        var converted: [ConvertedKey: Converted] = [:]
        init(primitive: dnnl_primitive_t, primitiveDesc: dnnl_primitive_desc_t, memories: [Int32: dnnl_memory_t],
             conversions: [Int32: Conversion]) {
            self.primitive = primitive
            self.primitiveDesc = primitiveDesc
            self.memories = memories
            self.conversions = conversions
        }
    }

    struct ConvertedKey: Hashable {
        let arg: Int32
        let storage: ObjectIdentifier
        let offset: Int
    }

    /// A fixed input in a primitive's layout. The source is held weakly: its storage may be
    /// freed and its address reused, and then the conversion is stale.
    final class Converted {
        weak var source: Storage?
        let buffer: Storage
        init(source: Storage, buffer: Storage) {
            self.source = source
            self.buffer = buffer
        }
    }

    /// The reorder between a caller's dense tensor and the layout a primitive chose for one
    /// of its arguments (it reads from the tensor for an input, writes into it for an output).
    struct Conversion {
        let reorder: dnnl_primitive_t
        /// Memory over the caller's tensor; the primitive's own memory object is the other end.
        let dense: dnnl_memory_t
        let byteCount: Int
        let isOutput: Bool
    }

    /// An input reordered into a primitive's layout inside `reusingInputConversions`: the
    /// tensor, both layouts and (once reordered) the copy.
    private struct ReusedConversion {
        /// Held, so that its address cannot be reused while the copy is kept.
        let source: Storage
        let offset: Int
        var sourceDesc: dnnl_memory_desc_t
        var targetDesc: dnnl_memory_desc_t
        var buffer: Storage?

        /// Whether `other` reads the same elements into the same layout.
        func matches(_ other: ReusedConversion) -> Bool {
            var (a, b, c, d) = (sourceDesc, other.sourceDesc, targetDesc, other.targetDesc)
            return source === other.source && offset == other.offset
                && dnnl_memory_desc_equal(&a, &b) != 0 && dnnl_memory_desc_equal(&c, &d) != 0
        }
    }

    private var cache: [String: Entry] = [:]
    private let lock = NSLock()
    /// While `reusingInputConversions` runs: the thread running it and the inputs reordered so far.
    private var reuse: (thread: Int, conversions: [ReusedConversion])?

    private init() {
        var engine: dnnl_engine_t?
        OneDNN.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
        self.engine = engine!
        self.stream = stream!
    }

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        precondition(status == dnnl_success, "oneDNN: \(what()) failed with status \(status.rawValue)")
    }

    static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN dispatches its kernels for on this CPU.
    static var effectiveISA: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_mic, dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "unknown (\(dnnl_get_effective_cpu_isa().rawValue))"
        }
    }

    /// Whether the effective ISA has bf16 instructions (AVX512-BF16, or AMX, which includes
    /// it); oneDNN's ISA values are bit masks, each including the ones below it.
    static let hasNativeBFloat16: Bool = {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }()

    private static let noNativeBFloat16Warning: Void = {
        FileHandle.standardError.write(Data(("Ember: oneDNN's instruction set here (\(effectiveISA)) has no bfloat16 " +
            "instructions; bfloat16 matmul and convolution are computed in float32: correct, but no faster than float32\n").utf8))
    }()

    /// Says once per process that bfloat16 products run in float32 on this CPU.
    static func warnNoNativeBFloat16Once() { noNativeBFloat16Warning }

    static func dataType(_ dtype: DType) -> dnnl_data_type_t {
        switch dtype {
        case .float32: return dnnl_f32
        case .bfloat16: return dnnl_bf16
        case .float16: return dnnl_f16
        case .int32: return dnnl_s32
        default: preconditionFailure("oneDNN has no \(dtype) type")
        }
    }

    /// A plain memory descriptor with explicit strides (in elements).
    static func memoryDesc(_ dims: [Int], _ strides: [Int], _ dtype: DType = .float32) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var d = dims.map { dnnl_dim_t($0) }
        var s = strides.map { dnnl_dim_t($0) }
        check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), &d, dataType(dtype), &s), "memory descriptor \(dims)")
        return md
    }

    static func denseDesc(_ dims: [Int], _ dtype: DType = .float32) -> dnnl_memory_desc_t {
        memoryDesc(dims, ShapeMath.contiguousStrides(dims), dtype)
    }

    /// A descriptor that lets the primitive choose the layout (`dnnl_format_tag_any`).
    static func anyDesc(_ dims: [Int], _ dtype: DType = .float32) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var d = dims.map { dnnl_dim_t($0) }
        check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), &d, dataType(dtype), dnnl_format_tag_any), "memory descriptor \(dims)")
        return md
    }

    /// The cached primitive for `key`, created by `make` on first use. `make` returns the
    /// primitive descriptor; memory objects are created for `arguments` from the
    /// descriptor's own memory descriptors (queried with `dnnl_query_exec_arg_md`).
    /// `dense` gives the caller's layout of arguments that `make` described with
    /// `dnnl_format_tag_any`: where the primitive chose another, `execute` reorders.
    func entry(_ key: String, arguments: [Int32], dense: [Int32: dnnl_memory_desc_t] = [:],
               make: () -> dnnl_primitive_desc_t) -> Entry {
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let pd = make()
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, pd), "create \(key)")
        var memories = [Int32: dnnl_memory_t]()
        var conversions = [Int32: Conversion]()
        for arg in arguments {
            let md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg)!
            memories[arg] = memory(md, key)
            if var denseDesc = dense[arg], dnnl_memory_desc_equal(md, &denseDesc) == 0 {
                let isOutput = OneDNN.outputs.contains(arg)
                conversions[arg] = Conversion(
                    reorder: isOutput ? reorder(from: md, to: &denseDesc, key) : reorder(from: &denseDesc, to: md, key),
                    dense: memory(&denseDesc, key), byteCount: Int(dnnl_memory_desc_get_size(md)), isOutput: isOutput)
            }
        }
        let entry = Entry(primitive: primitive!, primitiveDesc: pd, memories: memories, conversions: conversions)
        cache[key] = entry
        return entry
    }

    /// The arguments a primitive writes, among those that may need a conversion.
    static let outputs = Set([DNNL_ARG_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_WEIGHTS].map { Int32($0) })
    private static let from = Int32(DNNL_ARG_FROM), to = Int32(DNNL_ARG_TO)

    /// A memory object whose data pointer is set before each execution (DNNL_MEMORY_NONE).
    private func memory(_ md: UnsafePointer<dnnl_memory_desc_t>, _ key: String) -> dnnl_memory_t {
        var memory: dnnl_memory_t?
        OneDNN.check(dnnl_memory_create(&memory, md, engine, nil), "memory for \(key)")
        return memory!
    }

    private func reorder(from source: UnsafePointer<dnnl_memory_desc_t>, to target: UnsafePointer<dnnl_memory_desc_t>,
                         _ key: String) -> dnnl_primitive_t {
        var pd: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_reorder_primitive_desc_create(&pd, source, engine, target, engine, nil), "reorder for \(key)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, pd), "create reorder for \(key)")
        return primitive!
    }

    /// Bytes of the scratch or workspace memory a primitive asks for at `arg`.
    func byteCount(_ entry: Entry, arg: Int32) -> Int {
        Int(dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(entry.primitiveDesc, dnnl_query_exec_arg_md, arg)))
    }

    /// Runs a cached primitive on the given buffers, one per argument, and waits. Arguments
    /// the primitive holds in its own layout go through a scratch copy, reordered from the
    /// caller's tensor before (inputs) or into it after (outputs); `fixed` inputs (tensors
    /// whose values do not change while their storage lives) are reordered once and kept.
    /// Executions are serialized: one stream, and oneDNN's own threads fill the cores.
    /// Buffers are passed as objects, not pointers, so they stay alive until oneDNN is done.
    func execute(_ entry: Entry, _ data: [Int32: any OneDNNBuffer], fixed: Set<Int32> = []) {
        lock.lock()
        defer { lock.unlock() }
        var buffers = data
        for (arg, conversion) in entry.conversions {
            if fixed.contains(arg), let tensor = data[arg] as? Tensor {
                buffers[arg] = convertedOnce(entry, arg, tensor, conversion)
                continue
            }
            var reusable = conversion.isOutput ? nil : reusableConversion(entry, arg, data[arg]!, conversion)
            if let reusable, let kept = reuse?.conversions.first(where: { $0.matches(reusable) })?.buffer {
                buffers[arg] = kept
                continue
            }
            let scratch = CPUBackend.shared.allocate(byteCount: conversion.byteCount)
            if !conversion.isOutput {
                run(conversion.reorder, [(OneDNN.from, conversion.dense, data[arg]!), (OneDNN.to, entry.memories[arg]!, scratch)])
                if reusable != nil {
                    reusable!.buffer = scratch
                    reuse?.conversions.append(reusable!)
                }
            }
            buffers[arg] = scratch
        }
        run(entry.primitive, buffers.map { arg, buffer in (arg, entry.memories[arg]!, buffer) })
        for (arg, conversion) in entry.conversions where conversion.isOutput {
            run(conversion.reorder, [(OneDNN.from, entry.memories[arg]!, buffers[arg]!), (OneDNN.to, conversion.dense, data[arg]!)])
        }
        OneDNN.check(dnnl_stream_wait(stream), "wait")
        withExtendedLifetime((data, buffers)) {}
    }

    /// Runs `body` with each input that oneDNN reorders into a primitive's layout on this
    /// thread kept, so that the next primitive wanting the same tensor in the same layout
    /// reads the copy instead of reordering again. Only for a body whose primitives do not
    /// write the tensors they read; the copies go when it returns. A nested call, or one on
    /// another thread while a body runs, runs its body without keeping anything.
    func reusingInputConversions<T>(_ body: () -> T) -> T {
        lock.lock()
        let owns = reuse == nil
        if owns { reuse = (Int(ember_thread_id()), []) }
        lock.unlock()
        defer {
            if owns {
                lock.lock()
                reuse = nil
                lock.unlock()
            }
        }
        return body()
    }

    /// The input in `buffer` with the layouts `conversion` reorders between, while a
    /// `reusingInputConversions` body runs on this thread; nil otherwise (under the lock).
    private func reusableConversion(_ entry: Entry, _ arg: Int32, _ buffer: any OneDNNBuffer,
                                    _ conversion: Conversion) -> ReusedConversion? {
        guard let reuse, let tensor = buffer as? Tensor, reuse.thread == Int(ember_thread_id()) else { return nil }
        let (sourceDesc, targetDesc) = descs(entry, arg, conversion)
        return ReusedConversion(source: tensor.storage, offset: tensor.offset, sourceDesc: sourceDesc, targetDesc: targetDesc,
                                buffer: nil)
    }

    /// The caller's layout and the primitive's of a converted argument.
    private func descs(_ entry: Entry, _ arg: Int32, _ conversion: Conversion) -> (dnnl_memory_desc_t, dnnl_memory_desc_t) {
        var source: UnsafePointer<dnnl_memory_desc_t>?
        OneDNN.check(dnnl_memory_get_memory_desc(conversion.dense, &source), "memory descriptor")
        return (source!.pointee, dnnl_primitive_desc_query_md(entry.primitiveDesc, dnnl_query_exec_arg_md, arg)!.pointee)
    }

    /// A fixed input in the primitive's layout: reordered on its first use, then kept for as
    /// long as its storage lives. Entries of freed storages are dropped as new ones come.
    private func convertedOnce(_ entry: Entry, _ arg: Int32, _ tensor: Tensor, _ conversion: Conversion) -> Storage {
        let key = ConvertedKey(arg: arg, storage: ObjectIdentifier(tensor.storage), offset: tensor.offset)
        if let kept = entry.converted[key], kept.source === tensor.storage { return kept.buffer }
        let buffer = CPUBackend.shared.allocate(byteCount: conversion.byteCount)
        run(conversion.reorder, [(OneDNN.from, conversion.dense, tensor), (OneDNN.to, entry.memories[arg]!, buffer)])
        entry.converted = entry.converted.filter { $0.value.source != nil }
        entry.converted[key] = Converted(source: tensor.storage, buffer: buffer)
        return buffer
    }

    /// Submits one primitive to the stream with each memory object pointed at its buffer.
    private func run(_ primitive: dnnl_primitive_t, _ arguments: [(arg: Int32, memory: dnnl_memory_t, buffer: any OneDNNBuffer)]) {
        var args = arguments.map { argument in
            OneDNN.check(dnnl_memory_set_data_handle(argument.memory, argument.buffer.dataPointer), "set data")
            return dnnl_exec_arg_t(arg: argument.arg, memory: argument.memory)
        }
        OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(args.count), &args), "execute")
    }

    /// What a primitive does to its result, in order, while it is in registers.
    enum PostOp: Hashable {
        /// Adds what the destination held before the primitive ran.
        case sum
        /// An elementwise function (alpha and beta 0: plain relu, ...).
        case eltwise(dnnl_alg_kind_t)
        /// An elementwise function with its alpha (swish's sigmoid scale: 1 for SiLU).
        case eltwiseWithAlpha(dnnl_alg_kind_t, alpha: Float)
        /// Adds a dense float32 tensor of these dims, passed as `binaryArgument(index)`.
        case binaryAdd(dims: [Int])

        var key: String {
            switch self {
            case .sum: return "sum"
            case .eltwise(let algorithm): return "eltwise \(algorithm.rawValue)"
            case .eltwiseWithAlpha(let algorithm, let alpha): return "eltwise \(algorithm.rawValue) \(alpha)"
            case .binaryAdd(let dims): return "add \(dims)"
            }
        }

        /// The execution argument of the second operand of the binary post-op at `index`
        /// (DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, a macro Swift cannot import).
        static func binaryArgument(_ index: Int) -> Int32 {
            Int32(DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) * Int32(index + 1) | Int32(DNNL_ARG_SRC_1)
        }
    }

    /// Makes a primitive descriptor from an operation descriptor, with `postOps` when given.
    func primitiveDesc(_ opDesc: UnsafeRawPointer, hint: dnnl_primitive_desc_t? = nil, postOps: [PostOp] = [],
                       _ what: String) -> dnnl_primitive_desc_t {
        guard let pd = primitiveDescIfImplemented(opDesc, hint: hint, postOps: postOps, what) else {
            preconditionFailure("oneDNN: \(what) has no implementation")
        }
        return pd
    }

    /// `primitiveDesc`, or nil where oneDNN has no implementation of the operation (an
    /// optional algorithm, such as Winograd convolution, for this shape, layout or machine).
    func primitiveDescIfImplemented(_ opDesc: UnsafeRawPointer, hint: dnnl_primitive_desc_t? = nil, postOps: [PostOp] = [],
                                    _ what: String) -> dnnl_primitive_desc_t? {
        var attributes: dnnl_primitive_attr_t?
        if !postOps.isEmpty {
            var ops: dnnl_post_ops_t?
            OneDNN.check(dnnl_post_ops_create(&ops), "post-ops for \(what)")
            defer { dnnl_post_ops_destroy(ops) }
            for postOp in postOps {
                switch postOp {
                case .sum: OneDNN.check(dnnl_post_ops_append_sum(ops, 1), "post-op for \(what)")
                case .eltwise(let algorithm):
                    OneDNN.check(dnnl_post_ops_append_eltwise(ops, 1, algorithm, 0, 0), "post-op for \(what)")
                case .eltwiseWithAlpha(let algorithm, let alpha):
                    OneDNN.check(dnnl_post_ops_append_eltwise(ops, 1, algorithm, alpha, 0), "post-op for \(what)")
                case .binaryAdd(let dims):
                    var md = OneDNN.denseDesc(dims)
                    OneDNN.check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &md), "post-op for \(what)")
                }
            }
            OneDNN.check(dnnl_primitive_attr_create(&attributes), "attributes for \(what)")
            OneDNN.check(dnnl_primitive_attr_set_post_ops(attributes, ops), "post-ops for \(what)")
        }
        defer { if let attributes { dnnl_primitive_attr_destroy(attributes) } }
        var pd: dnnl_primitive_desc_t?
        let status = dnnl_primitive_desc_create(&pd, opDesc, attributes, engine, hint)
        if status == dnnl_unimplemented { return nil }
        OneDNN.check(status, what)
        return pd!
    }
}

/// The version of the oneDNN library the CPU backend runs on.
public var oneDNNVersion: String { OneDNN.version }

/// The instruction set oneDNN runs its kernels with on this CPU (`avx512_core_bf16`, ...).
public var oneDNNInstructionSet: String { OneDNN.effectiveISA }

/// Whether the CPU backend runs bfloat16 matmul and convolution on native bf16 instructions;
/// where it does not, they are computed in float32 (correct, and no faster than float32).
public var cpuHasNativeBFloat16: Bool { OneDNN.hasNativeBFloat16 }

/// Memory oneDNN reads or writes: a tensor's elements, or a whole storage (workspaces).
protocol OneDNNBuffer: AnyObject {
    var dataPointer: UnsafeMutableRawPointer { get }
}

extension Tensor: OneDNNBuffer {
    var dataPointer: UnsafeMutableRawPointer { baseAddress }
}

extension Storage: OneDNNBuffer {
    var dataPointer: UnsafeMutableRawPointer { pointer }
}
