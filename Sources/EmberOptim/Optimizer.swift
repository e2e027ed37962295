import Ember

/// The settings of one optimization algorithm for one parameter group, and the algorithm's
/// update rule: a group's options decide how its parameters move (SGD.Options, Adam.Options...).
public protocol OptimizerOptions: Equatable, Sendable {
    var lr: Double { get set }
    var weightDecay: Double { get set }
    /// The momentum (SGD, RMSprop) or first-moment decay (Adam's beta1) that OneCycleLR
    /// cycles; nil for algorithms that have none (setting it then does nothing).
    var momentumOrBeta1: Double? { get set }

    /// Throws an error naming the first invalid setting (a negative learning rate, say).
    func validate() throws(OptimizerError)

    /// Moves `parameter` in place by one step of the algorithm, from its gradient. Runs
    /// without recording gradients; `state.step` already counts this step.
    func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState)

    /// The settings as numbers under PyTorch's param_groups names (booleans as 0 and 1),
    /// for state dicts.
    var hyperparameters: [String: Double] { get }
    init(hyperparameters: [String: Double]) throws(OptimizerError)
}

/// Parameters optimized with one set of options (PyTorch's param_groups entry).
public struct ParameterGroup<Options: OptimizerOptions> {
    public let parameters: [Tensor]
    public var options: Options

    public init(_ parameters: [Tensor], _ options: Options) {
        self.parameters = parameters
        self.options = options
    }
}

/// What an optimizer keeps for one parameter between steps.
public struct ParameterState {
    /// Steps taken with this parameter (steps where it had no gradient do not count).
    public var step: Int
    /// Buffers under PyTorch's state names (momentum_buffer, exp_avg, exp_avg_sq...).
    public var buffers: [String: Tensor]

    public init(step: Int = 0, buffers: [String: Tensor] = [:]) {
        self.step = step
        self.buffers = buffers
    }

    /// The buffer `name`, created filled with `value` in `parameter`'s shape on first use.
    public mutating func buffer(_ name: String, like parameter: Tensor, filledWith value: Double = 0) -> Tensor {
        if let existing = buffers[name] { return existing }
        let created = Tensor.full(parameter.shape, value, dtype: parameter.dtype, on: parameter.backend)
        buffers[name] = created
        return created
    }
}

/// What training loops and learning-rate schedules use of any optimizer, whatever its options.
public protocol OptimizerProtocol: AnyObject {
    func step()
    func zeroGrad(setToNone: Bool)
    /// Each group's learning rate.
    var learningRates: [Double] { get set }
    /// Each group's momentum or beta1 (nil where the algorithm has none).
    var momenta: [Double?] { get set }
    func stateDict() -> OptimizerState
    func loadStateDict(_ state: OptimizerState) throws(OptimizerError)
    /// Every parameter the optimizer updates, group by group (what `GradScaler` unscales).
    var parameters: [Tensor] { get }
}

extension OptimizerProtocol {
    /// Clears every parameter's gradient.
    public func zeroGrad() { zeroGrad(setToNone: true) }
}

/// Updates parameters from their gradients, group by group, as torch.optim does: a
/// parameter whose `grad` is nil is skipped, and state is kept per parameter. Subclasses
/// (SGD, Adam, AdamW, RMSprop, Adagrad) name the algorithm and give its defaults.
open class Optimizer<Options: OptimizerOptions>: OptimizerProtocol {
    /// The groups; their options may be changed between steps (learning-rate schedules do).
    public var parameterGroups: [ParameterGroup<Options>] {
        didSet { Self.check(parameterGroups) }
    }
    /// Per-parameter state, keyed by the parameter tensor's identity (as PyTorch keys by tensor).
    public private(set) var state: [ObjectIdentifier: ParameterState] = [:]

    public init(groups: [ParameterGroup<Options>]) {
        Self.check(groups)
        parameterGroups = groups
    }

    /// All parameters with one set of options.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: [ParameterGroup(parameters, options)])
    }

    /// Bad settings are programmer errors: they stop with a message naming the setting.
    private static func check(_ groups: [ParameterGroup<Options>]) {
        precondition(!groups.isEmpty, "\(Self.self): needs at least one parameter group")
        var seen = Set<ObjectIdentifier>()
        for (i, group) in groups.enumerated() {
            do throws(OptimizerError) {
                try group.options.validate()
            } catch {
                preconditionFailure("\(Self.self) parameter group \(i): \(error)")
            }
            for parameter in group.parameters {
                precondition(parameter.dtype.isFloatingPoint,
                             "\(Self.self): parameters must be floating-point, got \(parameter.dtype) in group \(i)")
                precondition(seen.insert(ObjectIdentifier(parameter)).inserted,
                             "\(Self.self): a parameter appears twice (group \(i)); each may be in one group only")
            }
        }
    }

    /// The algorithm's name in state dicts ("SGD", "Adam"...).
    public var name: String { String(describing: type(of: self)) }

    public var parameters: [Tensor] { parameterGroups.flatMap(\.parameters) }

    /// One optimization step over every parameter that has a gradient.
    public func step() {
        noGrad {
            for group in parameterGroups {
                for parameter in group.parameters {
                    guard let gradient = parameter.grad else { continue }
                    precondition(gradient.shape == parameter.shape,
                                 "\(name).step: gradient of shape \(gradient.shape) for a parameter of shape \(parameter.shape)")
                    // Taken out and put back, so that updating its buffers copies nothing.
                    let id = ObjectIdentifier(parameter)
                    var parameterState = state.removeValue(forKey: id) ?? ParameterState()
                    parameterState.step += 1
                    group.options.update(parameter, gradient: gradient, state: &parameterState)
                    state[id] = parameterState
                }
            }
        }
    }

    /// Clears the gradients of every parameter; with `setToNone` false they become zeros.
    public func zeroGrad(setToNone: Bool) {
        for group in parameterGroups {
            for parameter in group.parameters {
                // Fresh zeros rather than zeroing in place: a gradient may share storage with
                // a tensor the caller still holds (the seed given to backward, say).
                parameter.grad = setToNone ? nil : parameter.grad.map { Tensor.zeros(like: $0) }
            }
        }
    }

    /// The first group's learning rate; setting it sets every group's.
    public var learningRate: Double {
        get { parameterGroups[0].options.lr }
        set {
            for i in parameterGroups.indices { parameterGroups[i].options.lr = newValue }
        }
    }

    public var learningRates: [Double] {
        get { parameterGroups.map(\.options.lr) }
        set {
            precondition(newValue.count == parameterGroups.count,
                         "\(name): \(newValue.count) learning rates for \(parameterGroups.count) parameter groups")
            for i in parameterGroups.indices { parameterGroups[i].options.lr = newValue[i] }
        }
    }

    public var momenta: [Double?] {
        get { parameterGroups.map(\.options.momentumOrBeta1) }
        set {
            precondition(newValue.count == parameterGroups.count,
                         "\(name): \(newValue.count) momenta for \(parameterGroups.count) parameter groups")
            for i in parameterGroups.indices { parameterGroups[i].options.momentumOrBeta1 = newValue[i] }
        }
    }

    /// A snapshot of the state (copies of the buffers) and of every group's options.
    /// Parameters are numbered across groups in order, as in PyTorch.
    public func stateDict() -> OptimizerState {
        var tensors = [String: Tensor]()
        var groups = [OptimizerState.Group]()
        var index = 0
        for group in parameterGroups {
            var saved = OptimizerState.Group(hyperparameters: group.options.hyperparameters, shapes: [], steps: [])
            for parameter in group.parameters {
                let parameterState = state[ObjectIdentifier(parameter)]
                saved.shapes.append(parameter.shape)
                saved.steps.append(parameterState?.step ?? 0)
                for (buffer, tensor) in parameterState?.buffers ?? [:] {
                    tensors[OptimizerState.key(parameter: index, buffer: buffer)] = tensor.copied()
                }
                index += 1
            }
            groups.append(saved)
        }
        return OptimizerState(tensors: tensors, info: OptimizerState.Info(optimizer: name, groups: groups))
    }

    /// Restores a state saved by `stateDict()` of the same algorithm over parameters of the
    /// same shapes in the same groups (options included). Throws, changing nothing, when
    /// they do not match.
    public func loadStateDict(_ saved: OptimizerState) throws(OptimizerError) {
        guard saved.info.optimizer == name else {
            throw OptimizerError("loadStateDict: the state was saved by \(saved.info.optimizer), this optimizer is \(name)")
        }
        guard saved.info.groups.count == parameterGroups.count else {
            throw OptimizerError("loadStateDict: the state has \(saved.info.groups.count) parameter groups, this \(name) has \(parameterGroups.count)")
        }
        var options = [Options]()
        var parameters = [Tensor]()
        var steps = [Int]()
        for (i, (group, savedGroup)) in zip(parameterGroups, saved.info.groups).enumerated() {
            guard savedGroup.shapes.count == group.parameters.count else {
                throw OptimizerError("loadStateDict: parameter group \(i) has \(savedGroup.shapes.count) parameters in the state, \(group.parameters.count) here")
            }
            guard savedGroup.steps.count == savedGroup.shapes.count else {
                throw OptimizerError("loadStateDict: parameter group \(i) of the state has \(savedGroup.steps.count) step counts for its \(savedGroup.shapes.count) parameters")
            }
            if let step = savedGroup.steps.first(where: { $0 < 0 }) {
                throw OptimizerError("loadStateDict: parameter group \(i) of the state has a negative step count \(step)")
            }
            for (k, (parameter, shape)) in zip(group.parameters, savedGroup.shapes).enumerated() where parameter.shape != shape {
                throw OptimizerError("loadStateDict: parameter \(parameters.count + k) (group \(i)) has shape \(parameter.shape), the state's has shape \(shape)")
            }
            let groupOptions: Options
            do throws(OptimizerError) {
                groupOptions = try Options(hyperparameters: savedGroup.hyperparameters)
                try groupOptions.validate()
            } catch {
                throw OptimizerError("loadStateDict: parameter group \(i): \(error)")
            }
            options.append(groupOptions)
            parameters += group.parameters
            steps += savedGroup.steps
        }
        var restored = [ObjectIdentifier: ParameterState]()
        for (index, step) in steps.enumerated() where step > 0 {
            restored[ObjectIdentifier(parameters[index])] = ParameterState(step: step)
        }
        for (key, tensor) in saved.tensors {
            guard let (index, buffer) = OptimizerState.parse(key), index < parameters.count else {
                throw OptimizerError("loadStateDict: unexpected state tensor '\(key)' (expected state.<index>.<name> with index below \(parameters.count))")
            }
            let parameter = parameters[index]
            guard tensor.shape == parameter.shape else {
                throw OptimizerError("loadStateDict: state tensor '\(key)' has shape \(tensor.shape), parameter \(index) has shape \(parameter.shape)")
            }
            let copy = Tensor(uninitializedShape: parameter.shape, dtype: parameter.dtype, on: parameter.backend)
            copy.assign(tensor)
            restored[ObjectIdentifier(parameter), default: ParameterState(step: steps[index])].buffers[buffer] = copy
        }
        // Commit only once everything matched, so that a failed load leaves the optimizer as it was.
        state = restored
        for i in parameterGroups.indices { parameterGroups[i].options = options[i] }
    }
}

extension Tensor {
    /// A dense copy that shares no storage: state must not alias gradients or saved states.
    func copied() -> Tensor {
        let copy = Tensor(uninitializedShape: shape, dtype: dtype, on: backend)
        copy.assign(self)
        return copy
    }
}

/// start + weight (end - start), evaluated from the nearer end as PyTorch's lerp_ is, so
/// that running averages round as they do there.
func lerp(_ start: Tensor, _ end: Tensor, _ weight: Double) -> Tensor {
    weight < 0.5 ? start + (end - start) * weight : end - (end - start) * (1 - weight)
}
