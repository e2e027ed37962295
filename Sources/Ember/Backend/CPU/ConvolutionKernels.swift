// PLACEHOLDER until the convolution family lands (being written now).
enum ConvolutionKernels {
    static func forward(_ c: ConvConfig, _ inputs: [Tensor], _ out: Tensor, backend: CPUBackend) { fatalError() }
    static func backwardInput(_ c: ConvConfig, _ g: Tensor, _ w: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
    static func backwardWeight(_ c: ConvConfig, _ x: Tensor, _ g: Tensor, _ out: Tensor, backend: CPUBackend) { fatalError() }
}
