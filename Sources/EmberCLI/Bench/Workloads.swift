import Ember
import Foundation

/// One benchmark workload: set up once, then timed runs converted to its figure.
protocol Workload {
    var id: String { get }
    var name: String { get }
    var unit: String { get }
    /// The implementation's name in the results: "ember", or "ember-compiled" for the
    /// compiled run of a workload that also runs eagerly.
    var impl: String { get }
    /// Why the workload cannot run yet, if it cannot.
    var unavailableReason: String? { get }
    func prepare()
    /// Runs the workload once and returns the elapsed seconds.
    func timedRun() -> Double
    func figure(seconds: Double) -> Double
    /// What bounds its speed (for `--roofline`).
    var bound: WorkloadBound { get }
}

extension Workload {
    var impl: String { "ember" }
    var bound: WorkloadBound { .compute }
    var unavailableReason: String? { nil }
    func prepare() {}
}

func elapsed(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let allWorkloads: [Workload] = [
    MatmulWorkload(id: "W1", size: 1024),
    TrainStepWorkload.mlp(),
    TrainStepWorkload.cnn(),
    ResNet50InferenceWorkload(compiled: false),
    ResNet50InferenceWorkload(compiled: true),
    TrainStepWorkload.resnet50(),
    TransformerBlockWorkload(compiled: false),
    TransformerBlockWorkload(compiled: true),
    SentenceEmbeddingWorkload(compiled: false, paddingFree: false),
    SentenceEmbeddingWorkload(compiled: false),
    SentenceEmbeddingWorkload(compiled: true, paddingFree: false),
    SentenceEmbeddingWorkload(compiled: true),
    FusedElementwiseWorkload(compiled: false),
    FusedElementwiseWorkload(compiled: true),
    SmallOpWorkload(),
]

/// W1: fp32 square matrix product.
struct MatmulWorkload: Workload {
    let id: String
    let size: Int
    var name: String { "matmul \(size)^3 fp32" }
    var unit: String { "GFLOP/s" }
    let a: Tensor
    let b: Tensor

    init(id: String, size: Int) {
        self.id = id
        self.size = size
        let source = RandomSource.key(Key(1))
        a = Tensor.randomNormal([size, size], source: source)
        b = Tensor.randomNormal([size, size], source: .key(Key(2)))
    }

    func timedRun() -> Double { elapsed { _ = matmul(a, b) } }
    func figure(seconds: Double) -> Double { 2 * pow(Double(size), 3) / seconds / 1e9 }
}

/// The machine's fp32 peak as Ember reaches it: a 4096^3 product.
func peakMatmulWorkload() -> Workload { MatmulWorkload(id: "peak", size: 4096) }

/// W9: 1000 chained adds on a [16] tensor; the figure is microseconds per operation.
struct SmallOpWorkload: Workload {
    var id: String { "W9" }
    var name: String { "small-op overhead (1000 chained adds, [16])" }
    var unit: String { "us/op" }
    let x = Tensor.randomNormal([16], source: .key(Key(9)))
    let count = 1000

    func timedRun() -> Double {
        elapsed {
            var y = x
            for _ in 0..<count { y = y + x }
            _ = y
        }
    }

    func figure(seconds: Double) -> Double { seconds / Double(count) * 1e6 }
    var bound: WorkloadBound { .overhead }
}

/// W8: layer_norm(gelu(x * w + b)) over x [4096, 1024], exact GELU, no affine, forward
/// only; eagerly (four kernels, three intermediate tensors) and compiled (one fused pass).
struct FusedElementwiseWorkload: Workload {
    let compiled: Bool
    var id: String { "W8" }
    var name: String { "fused-elementwise layer_norm(gelu(x * w + b)) [4096, 1024]" + (compiled ? ", compiled" : "") }
    var unit: String { "ms/iter" }
    var impl: String { compiled ? "ember-compiled" : "ember" }
    let inputs = [Tensor.randomNormal([4096, 1024], source: .key(Key(8))), Tensor.randomNormal([1024], source: .key(Key(81))),
                  Tensor.randomNormal([1024], source: .key(Key(82)))]
    let function = compile { (xs: [Tensor]) in [FusedElementwiseWorkload.chain(xs)] }

    static func chain(_ xs: [Tensor]) -> Tensor {
        layerNorm((xs[0] * xs[1] + xs[2]).gelu(), normalizedShape: [1024])
    }

    func timedRun() -> Double {
        compiled ? elapsed { _ = function(inputs) } : elapsed { _ = FusedElementwiseWorkload.chain(inputs) }
    }

    func figure(seconds: Double) -> Double { seconds * 1e3 }
    /// x read and y written once, w and b read: what the fused pass must move at least.
    var bound: WorkloadBound { .memory(bytes: (2 * inputs[0].count + inputs[1].count + inputs[2].count) * 4) }
}
