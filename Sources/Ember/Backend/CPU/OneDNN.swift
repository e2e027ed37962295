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
        init(primitive: dnnl_primitive_t, primitiveDesc: dnnl_primitive_desc_t, memories: [Int32: dnnl_memory_t]) {
            self.primitive = primitive
            self.primitiveDesc = primitiveDesc
            self.memories = memories
        }
    }

    private var cache: [String: Entry] = [:]
    private let lock = NSLock()

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

    /// The cached primitive for `key`, created by `make` on first use. `make` returns the
    /// primitive descriptor; memory objects are created for `arguments` from the
    /// descriptor's own memory descriptors (queried with `dnnl_query_exec_arg_md`).
    func entry(_ key: String, arguments: [Int32], make: () -> dnnl_primitive_desc_t) -> Entry {
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let pd = make()
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, pd), "create \(key)")
        var memories = [Int32: dnnl_memory_t]()
        for arg in arguments {
            let md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg)
            var memory: dnnl_memory_t?
            // DNNL_MEMORY_NONE: the data pointer is set before each execution.
            OneDNN.check(dnnl_memory_create(&memory, md, engine, nil), "memory for \(key)")
            memories[arg] = memory!
        }
        let entry = Entry(primitive: primitive!, primitiveDesc: pd, memories: memories)
        cache[key] = entry
        return entry
    }

    /// Bytes of the scratch or workspace memory a primitive asks for at `arg`.
    func byteCount(_ entry: Entry, arg: Int32) -> Int {
        Int(dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(entry.primitiveDesc, dnnl_query_exec_arg_md, arg)))
    }

    /// Runs a cached primitive on the given buffers, one per argument, and waits.
    /// Executions are serialized: one stream, and oneDNN's own threads fill the cores.
    /// Buffers are passed as objects, not pointers, so they stay alive until oneDNN is done.
    func execute(_ entry: Entry, _ data: [Int32: any OneDNNBuffer]) {
        lock.lock()
        defer { lock.unlock() }
        var args = [dnnl_exec_arg_t]()
        for (arg, buffer) in data {
            let memory = entry.memories[arg]!
            OneDNN.check(dnnl_memory_set_data_handle(memory, buffer.dataPointer), "set data")
            args.append(dnnl_exec_arg_t(arg: arg, memory: memory))
        }
        OneDNN.check(dnnl_primitive_execute(entry.primitive, stream, Int32(args.count), &args), "execute")
        OneDNN.check(dnnl_stream_wait(stream), "wait")
        withExtendedLifetime(data) {}
    }

    /// Makes a primitive descriptor from an operation descriptor.
    func primitiveDesc(_ opDesc: UnsafeRawPointer, hint: dnnl_primitive_desc_t? = nil, _ what: String) -> dnnl_primitive_desc_t {
        var pd: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_primitive_desc_create(&pd, opDesc, nil, engine, hint), what)
        return pd!
    }
}

/// The version of the oneDNN library the CPU backend runs on.
public var oneDNNVersion: String { OneDNN.version }

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
