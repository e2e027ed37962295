import Ember

/// RMSprop with optional momentum, centering and L2 weight decay: torch.optim.RMSprop's update.
public final class RMSprop: Optimizer<RMSprop.Options> {
    public struct Options: OptimizerOptions {
        public var lr: Double
        /// Decay of the running average of squared gradients.
        public var alpha: Double
        /// Added to the denominator after the square root.
        public var eps: Double
        public var weightDecay: Double
        public var momentum: Double
        /// Divides by an estimate of the gradient's variance instead of its second moment.
        public var centered: Bool
        public var maximize: Bool

        public init(lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
                    momentum: Double = 0, centered: Bool = false, maximize: Bool = false) {
            self.lr = lr
            self.alpha = alpha
            self.eps = eps
            self.weightDecay = weightDecay
            self.momentum = momentum
            self.centered = centered
            self.maximize = maximize
        }

        public var momentumOrBeta1: Double? {
            get { momentum }
            set { if let newValue { momentum = newValue } }
        }

        public func validate() throws(OptimizerError) {
            try require(lr >= 0, "RMSprop: invalid learning rate \(lr) (must be >= 0)")
            try require(eps >= 0, "RMSprop: invalid eps \(eps) (must be >= 0)")
            try require(momentum >= 0, "RMSprop: invalid momentum \(momentum) (must be >= 0)")
            try require(weightDecay >= 0, "RMSprop: invalid weight decay \(weightDecay) (must be >= 0)")
            try require(alpha >= 0, "RMSprop: invalid alpha \(alpha) (must be >= 0)")
        }

        public func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState) {
            var g = maximize ? -gradient : gradient
            if weightDecay != 0 { g = g + parameter * weightDecay }
            let squareAvg = state.buffer("square_avg", like: parameter)
            squareAvg.update(.scaleAndAddProduct(scale: alpha, alpha: 1 - alpha), g, g)
            if !centered && momentum == 0 {
                parameter.update(.addRatioToSquareRoot(alpha: -lr, denominatorScale: 1, epsilon: eps), g, squareAvg)
                return
            }
            var average: Tensor
            if centered {
                let gradAvg = state.buffer("grad_avg", like: parameter)
                gradAvg.assign(lerp(gradAvg, g, 1 - alpha))
                average = (squareAvg - gradAvg * gradAvg).sqrt()
            } else {
                average = squareAvg.sqrt()
            }
            average = average + eps
            if momentum > 0 {
                let buffer = state.buffer("momentum_buffer", like: parameter)
                buffer.assign(buffer * momentum + g / average)
                parameter.assign(parameter - buffer * lr)
            } else {
                parameter.assign(parameter - g / average * lr)
            }
        }

        public var hyperparameters: [String: Double] {
            ["lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weightDecay, "momentum": momentum,
             "centered": centered ? 1 : 0, "maximize": maximize ? 1 : 0]
        }

        public init(hyperparameters values: [String: Double]) throws(OptimizerError) {
            let h = Hyperparameters(values)
            self.init(lr: try h.number("lr"), alpha: try h.number("alpha"), eps: try h.number("eps"),
                      weightDecay: try h.number("weight_decay"), momentum: try h.number("momentum"),
                      centered: try h.flag("centered"), maximize: try h.flag("maximize"))
        }
    }

    public convenience init(_ parameters: [Tensor], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false) {
        self.init(parameters, options: Options(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay,
                                               momentum: momentum, centered: centered, maximize: maximize))
    }
}
