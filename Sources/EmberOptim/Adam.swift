import Ember
import Foundation

/// Adam with bias-corrected moment estimates, optional AMSGrad and L2 weight decay:
/// torch.optim.Adam's update. AdamW is the same algorithm with decoupled weight decay.
public final class Adam: Optimizer<Adam.Options> {
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var beta1: Double
        public var beta2: Double
        /// Added to the denominator after the square root and its bias correction.
        public var eps: Double
        public var weightDecay: Double
        /// Divides by the running maximum of the second moment (AMSGrad).
        public var amsgrad: Bool
        public var maximize: Bool
        /// Shrinks parameters by lr * weightDecay directly instead of adding weightDecay *
        /// parameter to the gradient (AdamW).
        public var decoupledWeightDecay: Bool

        public init(lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                    weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                    decoupledWeightDecay: Bool = false) {
            self.lr = lr
            (beta1, beta2) = betas
            self.eps = eps
            self.weightDecay = weightDecay
            self.amsgrad = amsgrad
            self.maximize = maximize
            self.decoupledWeightDecay = decoupledWeightDecay
        }

        public var momentumOrBeta1: Double? {
            get { beta1 }
            set { if let newValue { beta1 = newValue } }
        }

        public func validate() throws(OptimizerError) {
            try require(lr >= 0, "Adam: invalid learning rate \(lr) (must be >= 0)")
            try require(eps >= 0, "Adam: invalid eps \(eps) (must be >= 0)")
            try require(beta1 >= 0 && beta1 < 1, "Adam: invalid beta1 \(beta1) (must be in [0, 1))")
            try require(beta2 >= 0 && beta2 < 1, "Adam: invalid beta2 \(beta2) (must be in [0, 1))")
            try require(weightDecay >= 0, "Adam: invalid weight decay \(weightDecay) (must be >= 0)")
        }

        public func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState) {
            var g = maximize ? -gradient : gradient
            if weightDecay != 0 {
                if decoupledWeightDecay {
                    parameter.update(.scaleAndAdd(scale: 1 - lr * weightDecay, alpha: 0), parameter)
                } else {
                    g = g + parameter * weightDecay
                }
            }
            let expAvg = state.buffer("exp_avg", like: parameter)
            let expAvgSq = state.buffer("exp_avg_sq", like: parameter)
            expAvg.update(.scaleAndAdd(scale: beta1, alpha: 1 - beta1), g)
            expAvgSq.update(.scaleAndAddProduct(scale: beta2, alpha: 1 - beta2), g, g)

            let step = Double(state.step)
            let stepSize = lr / (1 - pow(beta1, step))
            let secondCorrection = (1 - pow(beta2, step)).squareRoot()
            var second = expAvgSq
            if amsgrad {
                let maxExpAvgSq = state.buffer("max_exp_avg_sq", like: parameter)
                maxExpAvgSq.assign(maximum(maxExpAvgSq, expAvgSq))
                second = maxExpAvgSq
            }
            // p -= stepSize · m / (√v / √(1 - β₂ᵗ) + ε), in one pass.
            parameter.update(.addRatioToSquareRoot(alpha: -stepSize, denominatorScale: 1 / secondCorrection, epsilon: eps),
                             expAvg, second)
        }

        public var hyperparameters: [String: Double] {
            ["lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weightDecay,
             "amsgrad": amsgrad ? 1 : 0, "maximize": maximize ? 1 : 0,
             "decoupled_weight_decay": decoupledWeightDecay ? 1 : 0]
        }

        public init(hyperparameters values: [String: Double]) throws(OptimizerError) {
            let h = Hyperparameters(values)
            self.init(lr: try h.number("lr"), betas: (try h.number("beta1"), try h.number("beta2")),
                      eps: try h.number("eps"), weightDecay: try h.number("weight_decay"),
                      amsgrad: try h.flag("amsgrad"), maximize: try h.flag("maximize"),
                      decoupledWeightDecay: try h.flag("decoupled_weight_decay"))
        }
    }

    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                                               amsgrad: amsgrad, maximize: maximize))
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter): torch.optim.AdamW. Every
/// group's weight decay is decoupled, whatever its options say.
public final class AdamW: Optimizer<Adam.Options> {
    public override init(groups: [ParameterGroup<Adam.Options>]) {
        super.init(groups: groups.map { group in
            var decoupled = group
            decoupled.options.decoupledWeightDecay = true
            return decoupled
        })
    }

    /// PyTorch's AdamW defaults, weight decay 0.01 included.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        self.init(parameters, options: Adam.Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                                                    amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: true))
    }
}
