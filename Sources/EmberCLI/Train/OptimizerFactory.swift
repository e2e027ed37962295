import EmberDistributed
import EmberNN
import EmberOptim
import EmberRuns
import EmberTrain

/// The optimizer and learning-rate schedule of a run, from its configuration.
enum OptimizerFactory {
    /// The configured optimizer over `model`'s trainable parameters; with `zero`, a
    /// ShardedOptimizer of that stage across the group wrapping it.
    static func optimizer(for model: any Layer, _ config: TrainConfig,
                          zero: (stage: ZeroStage, group: any ProcessGroup)? = nil) throws -> any OptimizerProtocol {
        let parameters = model.trainableParameters()
        func make<Options: OptimizerOptions>(_ options: Options,
                                             _ build: @escaping ([ParameterGroup<Options>]) -> Optimizer<Options>) throws -> any OptimizerProtocol {
            let groups = [ParameterGroup(parameters, options)]
            guard let zero else { return build(groups) }
            return try ShardedOptimizer(groups: groups, group: zero.group, stage: zero.stage, make: build)
        }
        let lr = config.learningRate, weightDecay = config.effectiveWeightDecay
        switch config.optimizer {
        case "adam": return try make(Adam.Options(lr: lr, weightDecay: weightDecay)) { Adam(groups: $0) }
        case "adamw": return try make(Adam.Options(lr: lr, weightDecay: weightDecay, decoupledWeightDecay: true)) { AdamW(groups: $0) }
        case "rmsprop": return try make(RMSprop.Options(lr: lr, weightDecay: weightDecay)) { RMSprop(groups: $0) }
        default:
            return try make(SGD.Options(lr: lr, momentum: 0.9, weightDecay: weightDecay, nesterov: true)) { SGD(groups: $0) }
        }
    }

    /// The callback that steps the schedule, if any.
    static func schedule(_ config: TrainConfig, optimizer: any OptimizerProtocol, stepsPerEpoch: Int) -> (any Callback)? {
        let epochs = config.epochs
        switch config.schedule {
        case "step":
            return LearningRateScheduler(LRScheduler(optimizer, schedule: StepLR(stepSize: max(1, epochs / 3), gamma: 0.1)))
        case "cosine":
            return LearningRateScheduler(LRScheduler(optimizer, schedule: CosineAnnealingLR(tMax: epochs * stepsPerEpoch)),
                                         interval: .step)
        case "onecycle":
            let cycle = OneCycleLR(maxLR: config.learningRate, totalSteps: epochs * stepsPerEpoch,
                                   cycleMomentum: optimizer.momenta.allSatisfy { $0 != nil })
            return LearningRateScheduler(LRScheduler(optimizer, schedule: cycle), interval: .step)
        case "plateau":
            return ReduceLROnPlateauCallback(ReduceLROnPlateau(optimizer, factor: 0.1, patience: 2))
        default:
            return nil
        }
    }
}
