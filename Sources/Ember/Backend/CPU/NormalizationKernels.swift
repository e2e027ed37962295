// PLACEHOLDER until the normalization family lands (being written now).
enum NormalizationKernels {
    static func batchNorm(_ e: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) { fatalError() }
    static func batchNormBackward(_ e: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) { fatalError() }
    static func layerNorm(_ axes: Int, _ e: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) { fatalError() }
    static func layerNormBackward(_ axes: Int, _ e: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) { fatalError() }
}
