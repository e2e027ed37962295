@testable import Ember

/// Random normal tensors for compile tests, one key per tensor.
func compileInputs(_ shapes: [[Int]], dtype: DType = .float32, seed: UInt64) -> [Tensor] {
    let keys = Key(seed).split(into: shapes.count)
    return zip(shapes, keys).map { Tensor.randomNormal($0, dtype: dtype, source: .key($1)) }
}

extension Graph {
    /// How many kernels a plain replay launches: operations that are not views.
    var kernelCount: Int { operations.filter { !MemoryPlan.mayBeView($0.primitive) }.count }

    func count(where predicate: (Primitive) -> Bool) -> Int { operations.filter { predicate($0.primitive) }.count }

    var fusedCount: Int {
        count { if case .fused = $0 { return true } else { return false } }
    }
}
