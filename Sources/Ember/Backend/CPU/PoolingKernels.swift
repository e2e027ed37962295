// PLACEHOLDER until the pooling family lands (being written now).
enum PoolingKernels {
    static func maxForward(_ c: PoolConfig, _ x: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
    static func maxBackward(_ c: PoolConfig, _ x: Tensor, _ g: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
    static func avgForward(_ c: PoolConfig, _ x: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
    static func avgBackward(_ c: PoolConfig, _ g: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
}
