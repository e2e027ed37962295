/// Optimizers' in-place updates (`InPlaceUpdate`) as single loops over dense memory, split
/// across cores: one read of each operand and one write of the target per element.
enum UpdateKernels {
    static func run<T: KernelFloat>(_ update: InPlaceUpdate, _ target: Tensor, _ operands: [Tensor], _: T.Type) {
        let t = target.pointer(T.self)
        let x = UnsafePointer(operands[0].pointer(T.self))
        let y = operands.count > 1 ? UnsafePointer(operands[1].pointer(T.self)) : x
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
}
