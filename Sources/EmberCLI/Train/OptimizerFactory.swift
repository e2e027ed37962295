import EmberNN
import EmberOptim
import EmberRuns
import EmberTrain

/// The optimizer and learning-rate schedule of a run, from its configuration.
enum OptimizerFactory {
    static func optimizer(for model: any Layer, _ config: TrainConfig) -> any OptimizerProtocol {
        let parameters = model.trainableParameters()
        let lr = config.learningRate
        switch config.optimizer {
        case "adam": return Adam(parameters, lr: lr, weightDecay: config.effectiveWeightDecay)
        case "adamw": return AdamW(parameters, lr: lr, weightDecay: config.effectiveWeightDecay)
        case "rmsprop": return RMSprop(parameters, lr: lr, weightDecay: config.effectiveWeightDecay)
        default: return SGD(parameters, lr: lr, momentum: 0.9, weightDecay: config.effectiveWeightDecay, nesterov: true)
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
