import CEmberVectorMath

/// Optimizers' in-place updates (`InPlaceUpdate`) as single loops over dense memory, split
/// across cores: one read of each operand and one write of the target per element.
enum UpdateKernels {
    static func run<T: KernelFloat>(_ update: InPlaceUpdate, _ target: Tensor, _ operands: [Tensor], _: T.Type) {
        let t = target.pointer(T.self)
        let x = UnsafePointer(operands[0].pointer(T.self))
        let y = operands.count > 1 ? UnsafePointer(operands[1].pointer(T.self)) : x
        if T.self == Float.self {
            return runFloat(update, UnsafeMutableRawPointer(t).assumingMemoryBound(to: Float.self),
                            UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                            UnsafeRawPointer(y).assumingMemoryBound(to: Float.self), target.count)
        }
        Parallel.forRange(target.count, cost: 2) { range in
            switch update {
            case .scaleAndAdd(let scale, let alpha):
                let a = T(scale), b = T(alpha)
                if a == 1 {
                    for i in range { t[i] += b * x[i] }
                } else {
                    for i in range { t[i] = a * t[i] + b * x[i] }
                }
            case .scaleAndAddProduct(let scale, let alpha):
                let a = T(scale), b = T(alpha)
                for i in range { t[i] = a * t[i] + b * x[i] * y[i] }
            case .addRatioToSquareRoot(let alpha, let denominatorScale, let epsilon):
                let b = T(alpha), c = T(denominatorScale), e = T(epsilon)
                for i in range { t[i] += b * x[i] / (y[i].squareRoot() * c + e) }
            }
        }
    }

    /// Float32 through the dispatched C loops (Sources/CEmberVectorMath), the same arithmetic.
    static func runFloat(_ update: InPlaceUpdate, _ t: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                         _ y: UnsafePointer<Float>, _ count: Int) {
        let (function, a, b, c, e): (EmberUpdateFunction, Double, Double, Double, Double)
        switch update {
        case .scaleAndAdd(let scale, let alpha): (function, a, b, c, e) = (.scaleAndAdd, scale, alpha, 0, 0)
        case .scaleAndAddProduct(let scale, let alpha): (function, a, b, c, e) = (.scaleAndAddProduct, scale, alpha, 0, 0)
        case .addRatioToSquareRoot(let alpha, let denominatorScale, let epsilon):
            (function, a, b, c, e) = (.addRatioToSquareRoot, 0, alpha, denominatorScale, epsilon)
        }
        Parallel.forRange(count, cost: 2) { range in
            ember_vector_update(function, t + range.lowerBound, x + range.lowerBound, y + range.lowerBound, Float(a), Float(b),
                                Float(c), Float(e), range.count)
        }
    }
}
