import Ember

/// Dynamic loss scaling for float16 training, PyTorch's `torch.amp.GradScaler`: the loss is
/// multiplied by `scale` before `backward` so that small float16 gradients do not flush to
/// zero, and the gradients are divided by it again before the optimizer uses them. A step
/// whose gradients hold an inf or NaN is skipped and the scale halved; after
/// `growthInterval` finite steps in a row the scale doubles.
///
/// ```swift
/// optimizer.zeroGrad()
/// let loss = autocast(.float16) { lossFunction(model(x), y) }
/// scaler.scaled(loss).backward()
/// scaler.unscale(optimizer)                 // only when clipping: clip the true gradients
/// clipGradNorm(optimizer.parameters, maxNorm: 1)
/// scaler.step(optimizer)                    // skipped when a gradient is not finite
/// scaler.update()
/// ```
/// bfloat16 has float32's exponent range and needs no scaling; a disabled scaler passes
/// everything through, so one loop serves every precision.
public final class GradScaler {
    /// What a checkpoint keeps of a scaler (PyTorch's `scale`, `_growth_tracker` and settings).
    public struct State: Codable, Equatable, Sendable {
        public var scale: Double
        public var growthTracker: Int
        public var growthFactor: Double
        public var backoffFactor: Double
        public var growthInterval: Int
        public var enabled: Bool
    }

    /// The factor the loss is multiplied by.
    public private(set) var scale: Double
    /// Finite steps taken in a row since the scale last changed.
    public private(set) var growthTracker = 0
    public let growthFactor: Double
    public let backoffFactor: Double
    public let growthInterval: Int
    public let enabled: Bool
    /// Whether the last `step` was skipped for an inf or NaN gradient.
    public private(set) var skippedLastStep = false

    /// Per optimizer, since its last step: whether its gradients are unscaled, and whether
    /// an inf or NaN was found among them.
    private var unscaled: [ObjectIdentifier: Bool] = [:]

    public init(initialScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5,
                growthInterval: Int = 2000, enabled: Bool = true) {
        precondition(initialScale > 0 && initialScale.isFinite, "GradScaler: initialScale must be positive and finite, got \(initialScale)")
        precondition(growthFactor > 1, "GradScaler: growthFactor must be above 1, got \(growthFactor)")
        precondition(backoffFactor > 0 && backoffFactor < 1, "GradScaler: backoffFactor must lie in (0, 1), got \(backoffFactor)")
        precondition(growthInterval > 0, "GradScaler: growthInterval must be positive, got \(growthInterval)")
        scale = initialScale
        self.growthFactor = growthFactor
        self.backoffFactor = backoffFactor
        self.growthInterval = growthInterval
        self.enabled = enabled
    }

    /// `loss` multiplied by the scale (in float32), or `loss` itself when disabled.
    public func scaled(_ loss: Tensor) -> Tensor {
        enabled ? loss.cast(to: .float32) * scale : loss
    }

    /// Divides the gradients of `optimizer`'s parameters by the scale, in place of the
    /// gradients, and notes whether any is inf or NaN. Call it once between `backward` and
    /// `step`, before clipping or reading the gradients; `step` calls it otherwise.
    public func unscale(_ optimizer: any OptimizerProtocol) {
        guard enabled else { return }
        let id = ObjectIdentifier(optimizer)
        precondition(unscaled[id] == nil, "GradScaler.unscale: already called for this optimizer since the last update()")
        let inverse = 1 / scale
        let found = noGrad { () -> Bool in
            var partials = [Tensor]()
            for parameter in optimizer.parameters {
                guard let gradient = parameter.grad else { continue }
                let g = gradient.cast(to: .float32) * inverse
                parameter.grad = g.cast(to: gradient.dtype)
                // 0 · x is NaN exactly where x is inf or NaN; one host read for all parameters.
                partials.append((g * 0).sum())
            }
            return partials.isEmpty ? false : !Tensor.stack(partials).sum().item().isFinite
        }
        unscaled[id] = found
    }

    /// Unscales the gradients if `unscale` has not, then runs `optimizer.step()` unless a
    /// gradient is inf or NaN. Returns whether the step was taken.
    @discardableResult
    public func step(_ optimizer: any OptimizerProtocol) -> Bool {
        guard enabled else {
            optimizer.step()
            return true
        }
        if unscaled[ObjectIdentifier(optimizer)] == nil { unscale(optimizer) }
        skippedLastStep = unscaled[ObjectIdentifier(optimizer)]!
        if !skippedLastStep { optimizer.step() }
        return !skippedLastStep
    }

    /// Adjusts the scale after the optimizers' steps: halves it if any step found an inf or
    /// NaN, doubles it after `growthInterval` finite steps in a row. Call once per iteration.
    public func update() {
        guard enabled else { return }
        precondition(!unscaled.isEmpty, "GradScaler.update: no step(_:) or unscale(_:) since the last update()")
        if unscaled.values.contains(true) {
            scale *= backoffFactor
            growthTracker = 0
        } else {
            growthTracker += 1
            if growthTracker == growthInterval {
                scale *= growthFactor
                growthTracker = 0
            }
        }
        unscaled = [:]
    }

    public var state: State {
        State(scale: scale, growthTracker: growthTracker, growthFactor: growthFactor, backoffFactor: backoffFactor,
              growthInterval: growthInterval, enabled: enabled)
    }

    /// Restores the scale and the count of finite steps from `state`; the settings must match.
    public func load(_ state: State) throws(OptimizerError) {
        guard state.scale > 0 && state.scale.isFinite else {
            throw OptimizerError("GradScaler state: scale must be positive and finite, got \(state.scale)")
        }
        guard state.growthTracker >= 0 && state.growthTracker < growthInterval else {
            throw OptimizerError("GradScaler state: growthTracker \(state.growthTracker) must lie in 0..<\(growthInterval)")
        }
        guard state.enabled == enabled else {
            throw OptimizerError("GradScaler state: saved \(state.enabled ? "enabled" : "disabled"), this scaler is \(enabled ? "enabled" : "disabled")")
        }
        scale = state.scale
        growthTracker = state.growthTracker
    }
}
