import CEmberSupport
import Glibc

/// Records what runs on this thread inside `profile { }`: every kernel (eager, compiled and
/// fused alike, as `Dispatch.launch` runs it) with its inputs, duration, FLOPs and bytes, and
/// the ranges around it (`record("name") { }`, and each module call in EmberNN), as
/// torch.profiler records operators and `record_function` ranges. When no profiler is active
/// the cost is one load of a thread-local pointer per kernel.
public final class Profiler {
    /// The events so far, in the order they began.
    public private(set) var events: [ProfileEvent] = []
    /// The ranges open now, innermost last (indices into `events`).
    private var open: [Int] = []
    private let origin = Profiler.now()
    /// Names for ranges around objects (EmberNN names module calls by their path in a model).
    public var names: [ObjectIdentifier: String] = [:]
    private let thread = ember_thread_id()
    /// The profiler this one interrupted on its thread (nested profiles).
    private var outer: UnsafeMutableRawPointer?

    init() {}

    /// The profiler active on this thread, if any.
    public static var current: Profiler? {
        ember_thread_state().pointee.profiler.map { Unmanaged<Profiler>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Nanoseconds on the monotonic clock.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Runs `body` as a range named `name` (a module's path, a user annotation).
    public func range<Result>(_ name: String, category: ProfileEvent.Category, _ body: () throws -> Result) rethrows -> Result {
        beginRange(name, category: category)
        defer { endRange() }
        return try body()
    }

    /// Opens a range named `name`, for ranges that begin and end in different calls (a
    /// training step seen by a callback); `endRange` closes the innermost one.
    public func beginRange(_ name: String, category: ProfileEvent.Category) {
        events.append(ProfileEvent(name: name, category: category, thread: thread, start: Self.now() - origin, duration: 0,
                                   parent: open.last, scope: category == .module ? name : currentScope))
        open.append(events.count - 1)
    }

    /// Closes the innermost open range.
    public func endRange() {
        let index = open.removeLast()
        events[index].duration = Self.now() - origin - events[index].start
    }

    /// The innermost open module's path ("" outside every module).
    private var currentScope: String {
        open.last.map { events[$0].scope } ?? ""
    }

    /// Set by the backend while a kernel runs: it computed on float32 copies of half-precision operands.
    private var pendingFloat32Copies = false

    /// Called by the backend when the kernel running now has no half-precision form for its
    /// operands and computes on float32 copies of them instead.
    func noteFloat32Copies() { pendingFloat32Copies = true }

    func kernel(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor], start: UInt64, end: UInt64) {
        let bytes = (inputs + outputs).reduce(0) { $0 + $1.count * $1.dtype.byteSize }
        defer { pendingFloat32Copies = false }
        events.append(ProfileEvent(
            name: primitive.kind, category: .kernel, thread: thread, start: start - origin, duration: end - start,
            parent: open.last, scope: currentScope, detail: primitive.name, inputShapes: inputs.map(\.shape),
            inputDTypes: inputs.map(\.dtype),
            flops: FLOPCounter.flops(of: primitive, inputs: inputs.map(\.shape), outputs: outputs.map(\.shape)), bytes: bytes,
            float32Copies: pendingFloat32Copies))
    }

    /// What was recorded, as a value to query and save.
    public var profile: Profile { Profile(events: events) }
}

/// One kernel run or one range.
public struct ProfileEvent: Sendable {
    public enum Category: String, Sendable {
        case kernel, module, userAnnotation = "user_annotation"
    }
    /// The kernel's kind (`matmul`, `conv2d`, `fused<conv2d+add+relu>`), a module's path, or
    /// a range's name.
    public var name: String
    public var category: Category
    public var thread: Int
    /// Nanoseconds from the start of the profile.
    public var start: UInt64
    public var duration: UInt64
    /// The enclosing range (an index into the profile's events).
    public var parent: Int?
    /// The innermost module around it (`layer1.0.conv1`), "" outside every module.
    public var scope: String
    /// The kernel's full description (`conv2d(stride 1, padding 1)`); empty for ranges.
    public var detail = ""
    public var inputShapes: [[Int]] = []
    public var inputDTypes: [DType] = []
    public var flops = 0
    /// Bytes of the inputs and outputs.
    public var bytes = 0
    /// A kernel on half-precision tensors that computed on float32 copies of them (no
    /// bfloat16 kernel for these operands, or none on this CPU): each copy is a pass over memory.
    public var float32Copies = false
}

/// Runs `body` with a profiler recording on this thread and returns its result with the
/// profile. Profiles nest: an inner profile's events are also the outer one's.
public func profile<Result>(_ body: () throws -> Result) rethrows -> (result: Result, profile: Profile) {
    let profiler = Profiler.start()
    let result: Result
    do {
        result = try body()
    } catch {
        _ = profiler.stop()
        throw error
    }
    return (result, profiler.stop())
}

extension Profiler {
    /// Starts recording on this thread until `stop()`, for profiling that begins and ends in
    /// different calls (`profile { }` is the scoped form). Profilers nest as `profile` does.
    public static func start() -> Profiler {
        let state = ember_thread_state()
        let profiler = Profiler()
        profiler.outer = state.pointee.profiler
        state.pointee.profiler = Unmanaged.passRetained(profiler).toOpaque()
        return profiler
    }

    /// Stops recording (closing any open range) and returns the profile; the enclosing
    /// profiler, if any, takes this one's events and records again. Call it on the thread
    /// that started it, innermost profiler first.
    public func stop() -> Profile {
        let state = ember_thread_state()
        guard let pointer = state.pointee.profiler, Unmanaged<Profiler>.fromOpaque(pointer).takeUnretainedValue() === self else {
            preconditionFailure("Profiler.stop(): this profiler is not the innermost one recording on this thread")
        }
        while !open.isEmpty { endRange() }
        state.pointee.profiler = outer
        Unmanaged<Profiler>.fromOpaque(pointer).release()
        if let outer {
            // Nesting: the inner events are replayed into the outer profiler's timeline.
            Unmanaged<Profiler>.fromOpaque(outer).takeUnretainedValue().adopt(self)
        }
        return profile
    }
}

/// Runs `body` as a range named `name` in the active profile (torch's `record_function`);
/// just runs it when nothing is profiling.
public func record<Result>(_ name: String, _ body: () throws -> Result) rethrows -> Result {
    guard let profiler = Profiler.current else { return try body() }
    return try profiler.range(name, category: .userAnnotation, body)
}

extension Profiler {
    /// Appends another profiler's events, rebased onto this one's clock and open range.
    fileprivate func adopt(_ inner: Profiler) {
        let base = events.count, shift = inner.origin - origin
        for var event in inner.events {
            event.start += shift
            event.parent = event.parent.map { $0 + base } ?? open.last
            if event.scope.isEmpty { event.scope = currentScope }
            events.append(event)
        }
    }
}

extension Primitive {
    /// A short name for grouping: the operation without its parameters, and the operations
    /// of a fused kernel (`fused<conv2d+add+relu>`).
    public var kind: String {
        func short(_ name: String) -> String { String(name.prefix { $0 != "(" }) }
        guard case .fused(let program) = self else { return short(name) }
        var parts = program.headPrimitive.map { [short($0.name)] } ?? []
        if case .matmul(let epilogue) = program.head {
            parts += (epilogue.hasBias ? ["add"] : []) + (epilogue.activation.map { [$0.rawValue] } ?? [])
                + (epilogue.hasResidual ? ["add"] : [])
        }
        parts += program.instructions.map { short(FusedProgram.primitive(of: $0).0.name) }
        switch program.tail {
        case nil: break
        case .reduce(let op, let axes, let keep): parts.append(short(Primitive.reduce(op, axes: axes, keepDims: keep).name))
        case .layerNorm: parts.append("layer_norm")
        }
        return "fused<" + parts.joined(separator: "+") + ">"
    }
}
