import Ember

/// A module with one tensor in and one tensor out: what `Sequential` chains and what
/// `summary` walks. Implement `forward`; call the layer as a function.
public protocol Layer: Module {
    func forward(_ x: Tensor) -> Tensor
}

extension Layer {
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let replacement = activeReplacement as? any Layer { return replacement(x) }
        return recordingCall { forward(x) }
    }
}

extension Module {
    /// Runs a forward pass so that `summary` sees this module's output. Modules whose call
    /// takes other arguments (attention, recurrent layers) wrap their body in it.
    public func recordingCall<Output>(_ body: () -> Output) -> Output {
        if let replacement = activeReplacement {
            preconditionFailure("\(typeName) was replaced by \(replacement.typeName) (replaceModule) and can now only be called as a layer, with one tensor")
        }
        if let precision { return precision.override { recordingCallInOwnPrecision(body) } }
        return recordingCallInOwnPrecision(body)
    }

    private func recordingCallInOwnPrecision<Output>(_ body: () -> Output) -> Output {
        if let profiler = Profiler.current {
            return profiler.range(ModulePaths.name(of: self, in: profiler), category: .module) { recordedCall(body) }
        }
        return recordedCall(body)
    }

    private func recordedCall<Output>(_ body: () -> Output) -> Output {
        guard let recorder = ModuleCallRecorder.active else { return body() }
        return recorder.record(self, body)
    }
}

/// Collects, in call order, each module's output shapes during a summary's forward pass.
final class ModuleCallRecorder {
    nonisolated(unsafe) static var active: ModuleCallRecorder?

    struct Call {
        var module: Module
        var depth: Int
        var outputShapes: [[Int]]
        /// FLOPs of the call, its submodules' included (see `FLOPCounter`).
        var flops = 0
    }

    private(set) var calls: [Call] = []
    private var depth = 0

    func record<Output>(_ module: Module, _ body: () -> Output) -> Output {
        let index = calls.count
        calls.append(Call(module: module, depth: depth, outputShapes: []))
        depth += 1
        let start = FLOPCounter.current?.total ?? 0
        let output = body()
        depth -= 1
        calls[index].outputShapes = Self.shapes(of: output)
        calls[index].flops = (FLOPCounter.current?.total ?? 0) - start
        return output
    }

    private static func shapes(of value: Any) -> [[Int]] {
        if let tensor = value as? Tensor { return [tensor.shape] }
        return Mirror(reflecting: value).children.flatMap { shapes(of: $0.value) }
    }
}
