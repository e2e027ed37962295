import Ember

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
/// L2 weight decay: torch.optim.SGD's update.
public final class SGD: Optimizer<SGD.Options> {
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var momentum: Double
        public var dampening: Double
        public var weightDecay: Double
        public var nesterov: Bool
        /// Ascends the objective instead of descending it.
        public var maximize: Bool

        public init(lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                    nesterov: Bool = false, maximize: Bool = false) {
            self.lr = lr
            self.momentum = momentum
            self.dampening = dampening
            self.weightDecay = weightDecay
            self.nesterov = nesterov
            self.maximize = maximize
        }

        public var momentumOrBeta1: Double? {
            get { momentum }
            set { if let newValue { momentum = newValue } }
        }

        public func validate() throws(OptimizerError) {
            try require(lr >= 0, "SGD: invalid learning rate \(lr) (must be >= 0)")
            try require(momentum >= 0, "SGD: invalid momentum \(momentum) (must be >= 0)")
            try require(weightDecay >= 0, "SGD: invalid weight decay \(weightDecay) (must be >= 0)")
            try require(!nesterov || (momentum > 0 && dampening == 0),
                        "SGD: Nesterov momentum needs momentum > 0 and zero dampening (got momentum \(momentum), dampening \(dampening))")
        }

        public func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState) {
            var direction = maximize ? -gradient : gradient
            if weightDecay != 0 { direction = direction + parameter * weightDecay }
            guard momentum != 0 else {
                parameter.update(.scaleAndAdd(scale: 1, alpha: -lr), direction)
                return
            }
            let buffer: Tensor
            if let existing = state.buffers["momentum_buffer"] {
                buffer = existing
                buffer.update(.scaleAndAdd(scale: momentum, alpha: 1 - dampening), direction)
            } else {
                // The first step starts the buffer at the gradient itself (no dampening).
                buffer = direction.copied()
                state.buffers["momentum_buffer"] = buffer
            }
            if nesterov { parameter.update(.scaleAndAdd(scale: 1, alpha: -lr), direction) }
            parameter.update(.scaleAndAdd(scale: 1, alpha: nesterov ? -lr * momentum : -lr), buffer)
        }

        public var hyperparameters: [String: Double] {
            ["lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weightDecay,
             "nesterov": nesterov ? 1 : 0, "maximize": maximize ? 1 : 0]
        }

        public init(hyperparameters values: [String: Double]) throws(OptimizerError) {
            let h = Hyperparameters(values)
            self.init(lr: try h.number("lr"), momentum: try h.number("momentum"), dampening: try h.number("dampening"),
                      weightDecay: try h.number("weight_decay"), nesterov: try h.flag("nesterov"),
                      maximize: try h.flag("maximize"))
        }
    }

    public convenience init(_ parameters: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        self.init(parameters, options: Options(lr: lr, momentum: momentum, dampening: dampening,
                                               weightDecay: weightDecay, nesterov: nesterov, maximize: maximize))
    }
}
