import Foundation
import XCTest
@testable import Ember
@testable import EmberNN

// The layer and model half of the conformance suite (DESIGN.md, "One conformance suite";
// PyTorch's ModuleInfo and tinygrad's helper_test_op are the models). Every case is a module
// built from a fixed seed, in float64 unless it says otherwise, and a batch of inputs; each
// check runs it under one transform and compares with eager execution:
//
// - compile: the compiled forward equals the eager one in evaluation mode, and in training
//   mode from the same seed over two calls (the same dropout masks, the generator advanced
//   alike, batch norm's running statistics updated alike);
// - training step: `compile` of `valueAndGrad` over the parameter tree and the inputs gives
//   the loss and the gradients that an eager `backward()` leaves on every parameter and
//   floating-point input (and so does `backward()` through a compiled forward);
// - per-example gradients: `vmap` of `grad` over the examples equals a loop over them;
// - jvp: forward-mode tangents, at parameters moved off their initial values, equal float64
//   central finite differences of the forward and agree with reverse mode (⟨w, J t⟩ = ⟨Jᵀ w, t⟩).
//
// Adding a layer or a model is one line in LayerConformanceTests or ZooConformanceTests; a
// case may leave a check out (`skipping`) with its reason, which the run prints.

/// One input of a case, described per example; the examples stack along `batchAxis`.
struct ConformanceInput {
    var batchAxis = 0
    /// A batch of `count` examples from `key`; floating-point values in `dtype`.
    let make: (_ count: Int, _ dtype: DType, _ key: Key) -> Tensor

    /// Standard normal values of shape `shape` per example.
    static func normal(_ shape: [Int], batchAxis: Int = 0) -> Self {
        Self(batchAxis: batchAxis) { count, dtype, key in
            Tensor.randomNormal(inserting(count, at: batchAxis, into: shape), dtype: .float64, source: .key(key)).cast(to: dtype)
        }
    }

    /// Integers in 0..<high (int64), of shape `shape` per example.
    static func integers(_ shape: [Int], below high: Int) -> Self {
        Self { count, _, key in Tensor.randomIntegers([count] + shape, high: high, source: .key(key)) }
    }

    /// Token ids in 1..<vocabulary, followed by padding (0) after each sequence's
    /// `sequenceLength`: sequences padded at the end.
    static func paddedTokens(length: Int, vocabulary: Int) -> Self {
        Self { count, _, key in
            let tokens = Tensor.randomIntegers([count, length], low: 1, high: vocabulary, source: .key(key))
            return tokens * paddingMask(count: count, length: length, keep: .int64)
        }
    }

    /// The attention mask of `paddedTokens`: 1 at tokens, 0 at padding (int64).
    static func attentionMask(length: Int) -> Self {
        Self { count, _, _ in paddingMask(count: count, length: length, keep: .int64) }
    }

    /// The key padding mask of `paddedTokens`: true at padding.
    static func keyPaddingMask(length: Int) -> Self {
        Self { count, _, _ in paddingMask(count: count, length: length, keep: .bool).logicalNot() }
    }

    /// Each sequence's `sequenceLength` (int64, a scalar per example).
    static func lengths(of length: Int) -> Self {
        Self { count, _, _ in Tensor((0..<count).map { Int64(sequenceLength($0, of: length)) }) }
    }

    private static func inserting(_ count: Int, at axis: Int, into shape: [Int]) -> [Int] {
        var full = shape
        full.insert(count, at: axis)
        return full
    }

    /// [count, length]: 1 (true) at the first `sequenceLength` positions of each row.
    private static func paddingMask(count: Int, length: Int, keep dtype: DType) -> Tensor {
        let lengths = Tensor((0..<count).map { Double(sequenceLength($0, of: length)) }).reshaped(to: [count, 1])
        return (Tensor.arange(from: 0, to: Double(length), dtype: .float64).unsqueezed(axis: 0) .< lengths).cast(to: dtype)
    }

    /// Example b's length out of `length`: whole, then shorter (at least 1), so that batches
    /// mix padded and unpadded sequences.
    static func sequenceLength(_ b: Int, of length: Int) -> Int { max(1, length - (b % 3) * (length / 3)) }
}

enum ConformanceCheck: String, CaseIterable {
    case compile = "compile"
    case trainingStep = "training step"
    case perExampleGradients = "per-example gradients"
    case jvp = "jvp"
    /// Part of `jvp`: its comparison with finite differences.
    case finiteDifferences = "finite differences"
    /// Part of `jvp`: running it in training mode (evaluation mode when skipped).
    case jvpInTrainingMode = "jvp in training mode"
}

/// A module, its inputs and how to call it.
struct ConformanceCase {
    let name: String
    /// The type of the module and its superclasses, for the coverage tests.
    let typeNames: [String]
    let inputs: [ConformanceInput]
    /// Builds the module in a dtype (after `manualSeed`, so weights are the same every time).
    let make: (DType) -> Module
    /// Runs the module; floating-point results are compared (integer ones are ignored).
    let forward: (Module, [Tensor]) -> [Tensor]
    /// Examples per batch: three, so that batch norm in training sees more than two values per channel.
    let batch = 3
    /// float64 for tight comparisons; float32 for convolutional models at sizes where float64's
    /// convolutions (direct loops, which oneDNN lacks) would take minutes in a debug build.
    var dtype = DType.float64
    /// Checks left out, with the reason.
    var skips: [ConformanceCheck: String] = [:]

    /// A module with any call: `forward` receives the module and a batch of the inputs.
    static func module<M: Module>(_ inputs: [ConformanceInput], _ variant: String? = nil, make: @escaping (DType) -> M,
                                  forward: @escaping (M, [Tensor]) -> [Tensor]) -> Self {
        let names = typeNames(M.self)
        return Self(name: names[0] + (variant.map { " (\($0))" } ?? ""), typeNames: names, inputs: inputs, make: make,
                    forward: { module, xs in forward(module as! M, xs) })
    }

    /// A layer of one input: `Linear`, `Conv2d`, a model's `forward`.
    static func layer<L: Layer>(_ input: ConformanceInput, _ variant: String? = nil, make: @escaping (DType) -> L) -> Self {
        module([input], variant, make: make) { layer, xs in [layer(xs[0])] }
    }

    func skipping(_ check: ConformanceCheck, _ reason: String) -> Self {
        var copy = self
        copy.skips[check] = reason
        return copy
    }

    /// The case in float32 (see `dtype`): its jvp is checked against reverse mode, not finite differences.
    func inFloat32() -> Self {
        var copy = self
        copy.dtype = .float32
        return copy
    }

    /// Float64 results agree to rounding (fusion, the memory plan and batching change nothing
    /// but the order of a few sums); float32 ones to 1e-4 (oneDNN's convolution algorithms
    /// differ between batch sizes and between eager and fused calls).
    var tolerance: Double { dtype == .float64 ? 1e-9 : 1e-4 }

    private static func typeNames(_ type: AnyClass) -> [String] {
        var names = [String(describing: type)]
        var current: AnyClass? = _getSuperclass(type)
        while let type = current, ObjectIdentifier(type) != ObjectIdentifier(Module.self) {
            names.append(String(describing: type))
            current = _getSuperclass(type)
        }
        return names
    }
}

// MARK: Running

/// Central differences in float64 with a step that moves the outputs by about 1e-6 (1e-6 over
/// the largest tangent, when that exceeds 1: deep networks with batch norm over a few values
/// can have tangents of 10⁴), so that the step stays in the linear regime and rarely crosses a
/// kink (ReLU, max pooling); truncation error ~1e-12 and rounding ~1e-10 relative to the
/// tangents, far below the tolerance, while a wrong rule shows as an error of order 1.
private let finiteDifferenceStep = 1e-6
private let finiteDifferenceTolerance = 1e-6

extension ConformanceCase {
    /// Runs `check` on every case in `cases` (those that skip it are listed), printing the time each took.
    static func run(_ check: ConformanceCheck, _ cases: [ConformanceCase], file: StaticString = #filePath, line: UInt = #line) {
        for c in cases {
            if let reason = c.skips[check] {
                print("conformance: \(check.rawValue) of \(c.name) skipped: \(reason)")
                fflush(stdout)
                continue
            }
            let start = Date()
            switch check {
            case .compile: c.checkCompile(file: file, line: line)
            case .trainingStep: c.checkTrainingStep(file: file, line: line)
            case .perExampleGradients: c.checkPerExampleGradients(file: file, line: line)
            case .jvp: c.checkJVP(file: file, line: line)
            case .finiteDifferences, .jvpInTrainingMode: preconditionFailure("\(check.rawValue) is part of the jvp check")
            }
            print("conformance: \(check.rawValue) of \(c.name): \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
            fflush(stdout)
        }
    }

    func build() -> Module {
        manualSeed(0)
        return make(dtype)
    }

    /// The inputs, from a key made of the case's name: the same on every run.
    func makeInputs() -> [Tensor] {
        let key = Key(UInt64(name.utf8.reduce(5381) { ($0 &* 33 &+ UInt64($1)) & 0xFFFF_FFFF }))
        return inputs.enumerated().map { i, input in input.make(batch, dtype, key.fold(in: i)) }
    }

    // MARK: 1. compile

    func checkCompile(file: StaticString, line: UInt) {
        let model = build()
        let xs = makeInputs()
        // One compiled function per mode: a trace bakes in the mode (as jax.jit bakes in Python
        // values), and both modes share the input signature.
        for training in [false, true] {
            model.train(training)
            let mode = training ? "training" : "evaluation"
            let compiled = compile { xs in forward(model, xs) }
            let saved = BufferState(model)
            manualSeed(1)
            let eager = noGrad { [forward(model, xs), forward(model, xs)] }
            let eagerNext = Tensor.randomUniform([4], dtype: .float64)
            let eagerBuffers = saved.current()
            saved.restore()
            manualSeed(1)
            let traced = noGrad { [compiled(xs), compiled(xs)] }
            let tracedNext = Tensor.randomUniform([4], dtype: .float64)
            for call in 0..<2 {
                assertOutputsClose(traced[call], eager[call], atol: tolerance, "\(mode) mode, call \(call + 1)", file: file, line: line)
            }
            assertClose(tracedNext, eagerNext, atol: 0, rtol: 0, "\(name): the generator after two \(mode)-mode calls",
                        file: file, line: line)
            saved.assertCurrent(equal: eagerBuffers, tolerance: tolerance, "\(name), \(mode) mode", file: file, line: line)
            XCTAssertEqual(compiled.traceCount, 1, "\(name): traced once", file: file, line: line)
        }
    }

    // MARK: 2. compiled training step

    func checkTrainingStep(file: StaticString, line: UInt) {
        let model = build().train()
        let xs = makeInputs()
        let tree = model.parameterTree()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        let floating = xs.indices.filter { xs[$0].dtype.isFloatingPoint }
        let names = tree.paths + floating.map { "input \($0)" }
        let saved = BufferState(model)

        // Eager: the loss and what backward() leaves on each parameter and floating-point input.
        func eagerGradients(_ forward: ([Tensor]) -> [Tensor]) -> (loss: Tensor, grads: [Tensor]) {
            saved.restore()
            model.zeroGrad()
            manualSeed(2)
            let inputs = xs.map { $0.dtype.isFloatingPoint ? $0.detached().requiringGrad() : $0 }
            let loss = weightedSum(forward(inputs))
            // Layers without parameters (activations) give a loss that depends on the inputs only.
            if loss.requiresGrad { loss.backward() }
            let grads = tree.paths.map { parameters[$0]! } + floating.map { inputs[$0] }
            defer { model.zeroGrad() }
            return (loss.detached(), grads.map { $0.grad ?? Tensor.zeros(like: $0) })
        }
        let (eagerLoss, eagerGrads) = eagerGradients { forward(model, $0) }
        let eagerBuffers = saved.current()

        // The step compiled whole, forward and backward, over the parameter tree and the inputs.
        saved.restore()
        let count = tree.leaves.count
        let step = compile { (all: [Tensor]) -> [Tensor] in
            let (value, grads) = valueAndGrad { (variables: [Tensor]) -> Tensor in
                let inputs = substituting(Array(all.dropFirst(count)), at: floating, with: Array(variables.dropFirst(count)))
                return model.applying(tree.replacingLeaves(Array(variables.prefix(count)))) { weightedSum(forward(model, inputs)) }
            }(Array(all.prefix(count)) + floating.map { all[count + $0] })
            return [value] + grads
        }
        manualSeed(2)
        let results = step(tree.leaves.map { $0.detached() } + xs)
        assertClose(results[0], eagerLoss, atol: tolerance, rtol: tolerance, "\(name): compiled loss", file: file, line: line)
        for (what, (compiled, eager)) in zip(names, zip(results.dropFirst(), eagerGrads)) {
            assertClose(compiled, eager, atol: tolerance, rtol: tolerance, "\(name): compiled gradient of \(what)", file: file, line: line)
        }
        saved.assertCurrent(equal: eagerBuffers, tolerance: tolerance, "\(name), compiled training step", file: file, line: line)

        // backward() through a compiled forward (replayed by the dispatcher, recorded by the tape).
        let compiledForward = compile { xs in forward(model, xs) }
        let (replayLoss, replayGrads) = eagerGradients { compiledForward($0) }
        assertClose(replayLoss, eagerLoss, atol: tolerance, rtol: tolerance, "\(name): loss of the compiled forward", file: file, line: line)
        for (what, (replayed, eager)) in zip(names, zip(replayGrads, eagerGrads)) {
            assertClose(replayed, eager, atol: tolerance, rtol: tolerance, "\(name): backward through the compiled forward, gradient of \(what)",
                        file: file, line: line)
        }
        saved.assertCurrent(equal: eagerBuffers, tolerance: tolerance, "\(name), backward through the compiled forward",
                            file: file, line: line)
    }

    // MARK: 3. per-example gradients

    func checkPerExampleGradients(file: StaticString, line: UInt) {
        let model = build()
        // Modules with batch norm run in evaluation mode: in training mode its running statistics
        // would take a different update from each example, which one captured buffer cannot hold
        // (vmap refuses), and the batch statistics of a single example are degenerate.
        model.train(!model.namedModules().contains { $0.1 is BatchNorm })
        let xs = makeInputs()
        let tree = model.parameterTree()
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        let count = tree.leaves.count
        let axes = inputs.map(\.batchAxis)
        let floating = xs.indices.filter { xs[$0].dtype.isFloatingPoint }
        let names = tree.paths + floating.map { "input \($0)" }

        // Each example alone, as a batch of one, through backward(): the gradients of the
        // parameters and of the example's floating-point inputs.
        manualSeed(3)
        let looped = (0..<batch).map { b -> [Tensor] in
            model.zeroGrad()
            let example = zip(xs, axes).map { x, axis in
                x.dtype.isFloatingPoint ? x.narrow(axis: axis, start: b, count: 1).detached().requiringGrad()
                    : x.narrow(axis: axis, start: b, count: 1)
            }
            let loss = weightedSum(forward(model, example))
            if loss.requiresGrad { loss.backward() }
            return tree.paths.map { parameters[$0]!.grad ?? Tensor.zeros(like: parameters[$0]!) }
                + floating.map { (example[$0].grad ?? Tensor.zeros(like: example[$0])).squeezed(axis: axes[$0]) }
        }
        model.zeroGrad()

        // All examples at once: vmap over the inputs' batch axes of the gradient of one example's loss.
        manualSeed(3)
        let perExample = vmap({ (all: [Tensor]) -> [Tensor] in
            let example = zip(all.dropFirst(count), axes).map { $0.unsqueezed(axis: $1) }
            return grad { (variables: [Tensor]) -> Tensor in
                let inputs = substituting(example, at: floating,
                                          with: zip(variables.dropFirst(count), floating).map { $0.unsqueezed(axis: axes[$1]) })
                return model.applying(tree.replacingLeaves(Array(variables.prefix(count)))) { weightedSum(forward(model, inputs)) }
            }(Array(all.prefix(count)) + floating.map { all[count + $0] })
        }, inAxes: Array(repeating: nil, count: count) + axes.map { $0 })(tree.leaves.map { $0.detached() } + xs)

        for (j, what) in names.enumerated() {
            for b in 0..<batch {
                assertClose(perExample[j][b], looped[b][j], atol: tolerance, rtol: tolerance,
                            "\(name): vmapped gradient of \(what) for example \(b)", file: file, line: line)
            }
        }
    }

    // MARK: 4. jvp

    func checkJVP(file: StaticString, line: UInt) {
        let model = build().train(skips[.jvpInTrainingMode] == nil)
        if let reason = skips[.jvpInTrainingMode] { print("conformance: jvp of \(name) in evaluation mode: \(reason)") }
        let xs = makeInputs()
        let tree = model.parameterTree()
        let count = tree.leaves.count
        let saved = BufferState(model)
        // Every evaluation starts from the same seed and buffers, so that dropout drops the same units.
        func reset() {
            saved.restore()
            manualSeed(4)
        }
        // The forward as a function of the parameters and the inputs (integer ones carry no tangent).
        func f(_ primals: [Tensor]) -> [Tensor] {
            model.applying(tree.replacingLeaves(Array(primals.prefix(count)))) { forward(model, Array(primals.dropFirst(count))) }
        }
        // Noise of each tensor's own scale (its root mean square, 1 for zeros).
        func noise(like p: Tensor, _ key: Key) -> Tensor {
            let rms = noGrad { p.square().mean().sqrt().item() }
            return Tensor.randomNormal(p.shape, dtype: dtype, source: .key(key)) * (rms > 0 ? rms : 1)
        }
        // The parameters moved a little from their initial values (zero biases and the like): at
        // those, a ReLU can meet exact zeros (a bottleneck whose channels were all cut at a pixel,
        // with a zero bias after it), where finite differences see half a slope.
        let keys = Key(99).split(into: 2 * count + xs.count)
        let parameters = zip(tree.leaves, keys).map { p, key in noGrad { p + noise(like: p, key) * 0.1 } }
        let primals = parameters + xs
        let differentiable = primals.indices.filter { primals[$0].dtype.isFloatingPoint }
        // A random direction of each tensor's own scale, so that a small step moves every layer a
        // little, not the small weights of some by many times their size.
        var tangents = zip(primals, keys.dropFirst(count)).map { p, key in
            p.dtype.isFloatingPoint ? noise(like: p, key) : Tensor.zeros(like: p)
        }
        // A padding row of an embedding gets no gradient by design (PyTorch's padding_idx), so
        // reverse mode sees no derivative there; leave it out of the direction.
        for (path, module) in model.namedModules() {
            guard let embedding = module as? Embedding, let row = embedding.paddingIndex,
                  let k = tree.paths.firstIndex(of: path.isEmpty ? "weight" : path + ".weight") else { continue }
            tangents[k] = tangents[k] * (Tensor.arange(embedding.numEmbeddings) .!= Double(row)).cast(to: dtype).unsqueezed(axis: 1)
        }

        reset()
        let (outputs, derivatives) = jvp(f, primals: primals, tangents: tangents)
        reset()
        assertOutputsClose(outputs, noGrad { f(primals) }, atol: tolerance, "jvp's outputs", file: file, line: line)
        if let reason = skips[.finiteDifferences] {
            print("conformance: finite differences of \(name) skipped: \(reason)")
        } else if dtype == .float64 {
            func step(_ h: Double) -> [Tensor] {
                reset()
                return noGrad { f(zip(primals, tangents).map { $0.dtype.isFloatingPoint ? $0 + $1 * h : $0 }) }
            }
            let scale = max(1, derivatives.filter { $0.dtype.isFloatingPoint }.map { $0.abs().max().item() }.max() ?? 1)
            let h = finiteDifferenceStep / scale
            let differences = zip(step(h), step(-h)).map { ($0 - $1) / (2 * h) }
            assertOutputsClose(derivatives, differences, atol: finiteDifferenceTolerance * scale, rtol: finiteDifferenceTolerance,
                               "jvp against finite differences",
                               file: file, line: line)
        }

        // ⟨w, J t⟩ from forward mode equals ⟨Jᵀ w, t⟩ from reverse mode (weightedSum is linear).
        reset()
        let (_, pullback) = vjp({ weightedSum(f(substituting(primals, at: differentiable, with: $0))) },
                                differentiable.map { primals[$0] })
        let cotangents = pullback(Tensor.scalar(1, dtype: .float64))
        let reverse = zip(cotangents, differentiable.map { tangents[$0] }).map { ($0 * $1).cast(to: .float64).sum() }
            .reduce(Tensor.scalar(0, dtype: .float64), +)
        // Both sums run over every parameter: float32 rounding of a sum of ~10⁵ terms.
        assertClose(weightedSum(derivatives), reverse, atol: tolerance, rtol: dtype == .float64 ? 1e-8 : 1e-3,
                    "\(name): jvp agrees with vjp", file: file, line: line)
        saved.restore()
    }

    private func assertOutputsClose(_ actual: [Tensor], _ expected: [Tensor], atol: Double, rtol: Double? = nil, _ what: String,
                                    file: StaticString, line: UInt) {
        XCTAssertEqual(actual.count, expected.count, "\(name): \(what): number of outputs", file: file, line: line)
        for (k, (a, e)) in zip(actual, expected).enumerated() where e.dtype.isFloatingPoint {
            assertClose(a, e, atol: atol, rtol: rtol ?? atol, "\(name): \(what), output \(k)", file: file, line: line)
        }
    }
}

/// `inputs` with those at `indices` replaced by `values`, in order.
private func substituting(_ inputs: [Tensor], at indices: [Int], with values: [Tensor]) -> [Tensor] {
    var result = inputs
    for (i, value) in zip(indices, values) { result[i] = value }
    return result
}

/// Σ over the floating-point outputs of Σ y·c, with c a fixed pattern of y's shape: a scalar
/// loss whose gradient reaches every output element with its own weight (a plain sum would
/// send none through a softmax or a normalization).
func weightedSum(_ outputs: [Tensor]) -> Tensor {
    outputs.filter { $0.dtype.isFloatingPoint }.enumerated().map { k, y in
        let pattern = (Tensor.arange(from: 0, to: Double(y.count), dtype: .float64) * 0.37 + Double(k) + 0.5).sin()
        return (y * pattern.reshaped(to: y.shape).cast(to: y.dtype)).sum()
    }.reduce(Tensor.scalar(0, dtype: .float64)) { $0 + $1.cast(to: .float64) }
}

/// A module's buffers (running statistics) and copies of their values, to put them back
/// between runs that must start alike.
struct BufferState {
    let buffers: [(name: String, tensor: Tensor)]
    let values: [Tensor]

    init(_ model: Module) {
        buffers = model.namedBuffers().map { (name: $0.0, tensor: $0.1) }
        values = buffers.map { $0.tensor.cloned() }
    }

    func current() -> [Tensor] { buffers.map { $0.tensor.cloned() } }

    func restore() { noGrad { for (buffer, value) in zip(buffers, values) { buffer.tensor.assign(value) } } }

    func assertCurrent(equal expected: [Tensor], tolerance: Double, _ what: String, file: StaticString, line: UInt) {
        for (buffer, value) in zip(buffers, expected) {
            assertClose(buffer.tensor, value, atol: tolerance, rtol: tolerance, "\(what): buffer \(buffer.name)", file: file, line: line)
        }
    }
}

/// The names of the public module classes declared in the Swift files under `folder` (relative
/// to the package root): those deriving from `Module` or from another such class there.
func declaredPublicModules(in folder: String, file: StaticString = #filePath) throws -> Set<String> {
    let root = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("../../..").standardized
    let directory = root.appendingPathComponent(folder)
    let files = try XCTUnwrap(FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil))
        .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    XCTAssertFalse(files.isEmpty, "no Swift files under \(directory.path)")
    let declaration = try NSRegularExpression(pattern: #"^public (?:final )?class (\w+)\s*:\s*(\w+)"#, options: .anchorsMatchLines)
    var superclasses = [String: String]()
    for url in files {
        let text = try String(contentsOf: url, encoding: .utf8)
        for match in declaration.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            superclasses[String(text[Range(match.range(at: 1), in: text)!])] = String(text[Range(match.range(at: 2), in: text)!])
        }
    }
    func isModule(_ name: String) -> Bool { name == "Module" || superclasses[name].map(isModule) == true }
    return Set(superclasses.keys.filter(isModule))
}
