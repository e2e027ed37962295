import Ember

/// Adagrad with learning-rate decay and L2 weight decay: torch.optim.Adagrad's update.
public final class Adagrad: Optimizer<Adagrad.Options> {
    public struct Options: OptimizerOptions {
        public var lr: Double
        /// The step size at step t is lr / (1 + (t - 1) lrDecay).
        public var lrDecay: Double
        public var weightDecay: Double
        /// The starting value of the sum of squared gradients.
        public var initialAccumulatorValue: Double
        /// Added to the denominator after the square root.
        public var eps: Double
        public var maximize: Bool

        public init(lr: Double = 1e-2, lrDecay: Double = 0, weightDecay: Double = 0,
                    initialAccumulatorValue: Double = 0, eps: Double = 1e-10, maximize: Bool = false) {
            self.lr = lr
            self.lrDecay = lrDecay
            self.weightDecay = weightDecay
            self.initialAccumulatorValue = initialAccumulatorValue
            self.eps = eps
            self.maximize = maximize
        }

        /// Adagrad has no momentum to cycle.
        public var momentumOrBeta1: Double? {
            get { nil }
            set {}
        }

        public func validate() throws(OptimizerError) {
            try require(lr >= 0, "Adagrad: invalid learning rate \(lr) (must be >= 0)")
            try require(lrDecay >= 0, "Adagrad: invalid lr decay \(lrDecay) (must be >= 0)")
            try require(weightDecay >= 0, "Adagrad: invalid weight decay \(weightDecay) (must be >= 0)")
            try require(initialAccumulatorValue >= 0,
                        "Adagrad: invalid initial accumulator value \(initialAccumulatorValue) (must be >= 0)")
            try require(eps >= 0, "Adagrad: invalid eps \(eps) (must be >= 0)")
        }

        public func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState) {
            var g = maximize ? -gradient : gradient
            if weightDecay != 0 { g = g + parameter * weightDecay }
            let stepSize = lr / (1 + Double(state.step - 1) * lrDecay)
            let sum = state.buffer("sum", like: parameter, filledWith: initialAccumulatorValue)
            sum.update(.scaleAndAddProduct(scale: 1, alpha: 1), g, g)
            parameter.update(.addRatioToSquareRoot(alpha: -stepSize, denominatorScale: 1, epsilon: eps), g, sum)
        }

        public var hyperparameters: [String: Double] {
            ["lr": lr, "lr_decay": lrDecay, "weight_decay": weightDecay,
             "initial_accumulator_value": initialAccumulatorValue, "eps": eps, "maximize": maximize ? 1 : 0]
        }

        public init(hyperparameters values: [String: Double]) throws(OptimizerError) {
            let h = Hyperparameters(values)
            self.init(lr: try h.number("lr"), lrDecay: try h.number("lr_decay"), weightDecay: try h.number("weight_decay"),
                      initialAccumulatorValue: try h.number("initial_accumulator_value"), eps: try h.number("eps"),
                      maximize: try h.flag("maximize"))
        }
    }

    public convenience init(_ parameters: [Tensor], lr: Double = 1e-2, lrDecay: Double = 0, weightDecay: Double = 0,
                            initialAccumulatorValue: Double = 0, eps: Double = 1e-10, maximize: Bool = false) {
        self.init(parameters, options: Options(lr: lr, lrDecay: lrDecay, weightDecay: weightDecay,
                                               initialAccumulatorValue: initialAccumulatorValue, eps: eps, maximize: maximize))
    }
}
