import Ember

/// Weight initializers with PyTorch's definitions (`torch.nn.init`), drawing from the
/// global generator. `make` creates a tensor; `apply(to:)` refills one in place.
public enum Initializer: Sendable {
    case zeros
    case ones
    case constant(Double)
    case uniform(low: Double = 0, high: Double = 1)
    case normal(mean: Double = 0, std: Double = 1)
    /// Normal, redrawn outside [a, b] (PyTorch's `trunc_normal_`).
    case truncatedNormal(mean: Double = 0, std: Double = 1, a: Double = -2, b: Double = 2)
    case xavierUniform(gain: Double = 1)
    case xavierNormal(gain: Double = 1)
    /// `a` is the negative slope of the rectifier after the layer (√5 for PyTorch's
    /// Linear/Conv default, which gives bound 1/√fanIn).
    case kaimingUniform(a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
    case kaimingNormal(a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyRelu)
    /// A (semi-)orthogonal matrix over the first axis against the rest.
    case orthogonal(gain: Double = 1)

    public enum FanMode: Sendable { case fanIn, fanOut }

    public enum Nonlinearity: Sendable {
        case linear, sigmoid, tanh, relu, leakyRelu, selu

        /// PyTorch's `calculate_gain`; `a` is leaky ReLU's negative slope.
        public func gain(a: Double = 0.01) -> Double {
            switch self {
            case .linear, .sigmoid: return 1
            case .tanh: return 5.0 / 3
            case .relu: return 2.0.squareRoot()
            case .leakyRelu: return (2 / (1 + a * a)).squareRoot()
            case .selu: return 0.75
            }
        }
    }

    /// A new tensor of `shape` drawn from this initializer.
    public func make(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        let double = values(shape)
        return dtype == .float64 ? double : double.cast(to: dtype)
    }

    /// Overwrites `tensor`'s values in place.
    public func apply(to tensor: Tensor) {
        noGrad { tensor.assign(values(tensor.shape).cast(to: tensor.dtype)) }
    }

    private func values(_ shape: [Int]) -> Tensor {
        switch self {
        case .zeros: return .zeros(shape, dtype: .float64)
        case .ones: return .ones(shape, dtype: .float64)
        case .constant(let value): return .full(shape, value, dtype: .float64)
        case .uniform(let low, let high): return .randomUniform(shape, low: low, high: high, dtype: .float64)
        case .normal(let mean, let std): return .randomNormal(shape, mean: mean, std: std, dtype: .float64)
        case .truncatedNormal(let mean, let std, let a, let b):
            return Tensor(doubles: truncatedNormal(count: shape.reduce(1, *), mean: mean, std: std, a: a, b: b),
                          shape: shape, dtype: .float64)
        case .xavierUniform(let gain):
            let (fanIn, fanOut) = Self.fans(shape)
            let bound = gain * (6 / Double(fanIn + fanOut)).squareRoot()
            return .randomUniform(shape, low: -bound, high: bound, dtype: .float64)
        case .xavierNormal(let gain):
            let (fanIn, fanOut) = Self.fans(shape)
            return .randomNormal(shape, std: gain * (2 / Double(fanIn + fanOut)).squareRoot(), dtype: .float64)
        case .kaimingUniform(let a, let mode, let nonlinearity):
            let bound = 3.0.squareRoot() * Self.kaimingStd(shape, a: a, mode: mode, nonlinearity: nonlinearity)
            return .randomUniform(shape, low: -bound, high: bound, dtype: .float64)
        case .kaimingNormal(let a, let mode, let nonlinearity):
            return .randomNormal(shape, std: Self.kaimingStd(shape, a: a, mode: mode, nonlinearity: nonlinearity), dtype: .float64)
        case .orthogonal(let gain):
            return Tensor(doubles: orthogonal(shape).map { $0 * gain }, shape: shape, dtype: .float64)
        }
    }

    /// Fan-in and fan-out as PyTorch computes them: axis 1 and axis 0 times the receptive field.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan-in and fan-out need a tensor of rank 2 or more, got shape \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    static func kaimingStd(_ shape: [Int], a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fanIn, fanOut) = fans(shape)
        let fan = mode == .fanIn ? fanIn : fanOut
        return nonlinearity.gain(a: a) / Double(fan).squareRoot()
    }

    private func truncatedNormal(count: Int, mean: Double, std: Double, a: Double, b: Double) -> [Double] {
        precondition(a < b, "truncatedNormal: need a < b, got [\(a), \(b)]")
        var result = [Double]()
        result.reserveCapacity(count)
        while result.count < count {
            let draws = Tensor.randomNormal([Swift.max(16, 2 * (count - result.count))], mean: mean, std: std, dtype: .float64).doubles
            result += draws.lazy.filter { (a...b).contains($0) }.prefix(count - result.count)
        }
        return result
    }

    /// Rows of a QR factor of a normal matrix, signs fixed by R's diagonal so the result is
    /// uniformly (Haar) distributed, as PyTorch's `orthogonal_`.
    private func orthogonal(_ shape: [Int]) -> [Double] {
        precondition(shape.count >= 2, "orthogonal: need a tensor of rank 2 or more, got shape \(shape)")
        let rows = shape[0], columns = shape.dropFirst().reduce(1, *)
        // Orthonormalize the columns of a tall matrix (k vectors of length n), then lay them out.
        let n = Swift.max(rows, columns), k = Swift.min(rows, columns)
        var vectors = (0..<k).map { _ in Tensor.randomNormal([n], dtype: .float64).doubles }
        for i in 0..<k {
            for j in 0..<i {
                let projection = zip(vectors[i], vectors[j]).reduce(0) { $0 + $1.0 * $1.1 }
                for t in 0..<n { vectors[i][t] -= projection * vectors[j][t] }
            }
            let norm = vectors[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
            // Gram-Schmidt's R has a positive diagonal, which is the sign-fixed convention.
            for t in 0..<n { vectors[i][t] /= norm }
        }
        var result = [Double](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                result[r * columns + c] = rows >= columns ? vectors[c][r] : vectors[r][c]
            }
        }
        return result
    }
}
