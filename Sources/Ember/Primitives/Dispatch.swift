import CEmberSupport

/// The one point every primitive goes through. The interpreter in force decides what
/// happens: a tracer records the primitive into its graph; otherwise it runs eagerly on the
/// inputs' backend. Either way, the autograd tape records it when an input requires grad.
@usableFromInline
enum Dispatch {
    @usableFromInline
    static func run(_ primitive: Primitive, _ inputs: [Tensor]) -> [Tensor] {
        let state = ember_thread_state()
        let outputs: [Tensor]
        if let tracer = state.pointee.tracer {
            outputs = Unmanaged<Tracer>.fromOpaque(tracer).takeUnretainedValue().record(primitive, inputs)
        } else {
            outputs = evaluate(primitive, inputs)
        }
        if state.pointee.gradDisabledDepth == 0 {
            Tape.recordIfNeeded(primitive, inputs, outputs)
        }
        return outputs
    }

    @inlinable
    static func run1(_ primitive: Primitive, _ inputs: [Tensor]) -> Tensor {
        run(primitive, inputs)[0]
    }

    /// Checks the shape rule, then runs the primitive on the inputs' backend: movement
    /// operations whose result can share storage become views, everything else a kernel.
    static func evaluate(_ primitive: Primitive, _ inputs: [Tensor]) -> [Tensor] {
        guard let specs = acceptedSpecs(primitive, inputs) else { return refusedOutputs(primitive, inputs) }
        let backend = inputs[0].storage.backend
        for input in inputs {
            if input.isAbstract {
                fatalError("\(primitive.name): a traced tensor was used outside of its trace; return it from the traced function instead")
            }
            if input.storage.backend !== backend {
                fatalError("\(primitive.name): inputs live on different backends (\(backend.name) and \(input.storage.backend.name))")
            }
        }
        if let view = Movement.view(primitive, inputs[0]) { return [view] }
        var outputs = [Tensor]()
        outputs.reserveCapacity(specs.count)
        for spec in specs {
            outputs.append(Tensor(uninitializedShape: spec.shape, dtype: spec.dtype, on: backend))
        }
        launch(primitive, inputs, outputs)
        return outputs
    }

    /// Runs a primitive's kernel into `outputs` on the inputs' backend: the one place where
    /// eager dispatch and compiled functions launch kernels, so that observers (the FLOP
    /// counter, the profiler) see both. `fixed`: inputs a compiled function holds fixed
    /// (`Backend.execute`).
    static func launch(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor], fixed: Set<Int> = []) {
        // One thread-local read when nothing observes (W9 measures this path).
        let state = ember_thread_state()
        guard state.pointee.profiler == nil && state.pointee.flopCounter == nil else {
            return launchObserved(primitive, inputs, outputs, fixed: fixed, state: state)
        }
        execute(primitive, inputs, outputs, fixed: fixed)
    }

    @inline(never)
    private static func launchObserved(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor], fixed: Set<Int>,
                                       state: UnsafeMutablePointer<EmberThreadState>) {
        if let pointer = state.pointee.profiler {
            let profiler = Unmanaged<Profiler>.fromOpaque(pointer).takeUnretainedValue()
            if case .custom = primitive {
                // A custom function's own kernels are recorded inside it, as a range.
                profiler.range(primitive.name, category: .userAnnotation) { execute(primitive, inputs, outputs, fixed: fixed) }
            } else {
                let start = Profiler.now()
                execute(primitive, inputs, outputs, fixed: fixed)
                profiler.kernel(primitive, inputs, outputs, start: start, end: Profiler.now())
            }
        } else {
            execute(primitive, inputs, outputs, fixed: fixed)
        }
        if let counter = state.pointee.flopCounter {
            Unmanaged<FLOPCounter>.fromOpaque(counter).takeUnretainedValue().count(primitive, inputs, outputs)
        }
    }

    @inline(__always)
    private static func execute(_ primitive: Primitive, _ inputs: [Tensor], _ outputs: [Tensor], fixed: Set<Int>) {
        let backend = inputs.first?.storage.backend ?? outputs[0].storage.backend
        if case .custom(let function) = primitive {
            function.run(inputs, into: outputs)
        } else if fixed.isEmpty {
            backend.execute(primitive, inputs: inputs, outputs: outputs)
        } else {
            backend.execute(primitive, inputs: inputs, outputs: outputs, fixed: fixed)
        }
    }

    /// The shape rule's result; a violation is a programming error, reported with the
    /// rule's message (operation, shapes given, what was expected). Inside
    /// `catchingOperationErrors` it is recorded instead, and the outputs are taken to be
    /// shaped like the first input, so that tracing can go on to the end of the function.
    static func checkedSpecs(_ primitive: Primitive, _ inputs: [Tensor]) -> [TensorSpec] {
        acceptedSpecs(primitive, inputs) ?? refusedSpecs(primitive, inputs)
    }

    /// The shape rule's result, or nil when it refused the inputs inside `catchingOperationErrors`.
    private static func acceptedSpecs(_ primitive: Primitive, _ inputs: [Tensor]) -> [TensorSpec]? {
        do {
            return try primitive.outputSpecs(inputs.map(\.spec))
        } catch {
            OperationErrorTrap.report(error.message)
            return nil
        }
    }

    /// What a refused primitive is taken to give: zeros shaped like its first input, one per
    /// output. No kernel runs on inputs its shape rule refused.
    private static func refusedOutputs(_ primitive: Primitive, _ inputs: [Tensor]) -> [Tensor] {
        let backend = inputs.first?.storage.backend ?? defaultBackend
        return refusedSpecs(primitive, inputs).map { Tensor.zeros($0.shape, dtype: $0.dtype, on: backend) }
    }

    private static func refusedSpecs(_ primitive: Primitive, _ inputs: [Tensor]) -> [TensorSpec] {
        let like = inputs.first?.spec ?? TensorSpec([], .float32)
        return Array(repeating: like, count: primitive.outputCount(inputs.map(\.spec)))
    }
}
