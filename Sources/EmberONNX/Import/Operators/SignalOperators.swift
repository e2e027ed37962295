import Ember
import Foundation

/// Window functions (opset 17): Hann, Hamming and Blackman windows of a given length,
/// periodic (for spectral analysis, the default) or symmetric.
enum ONNXSignalOperators {
    static let all: [ONNXOperator] = [
        window("HannWindow") { n, period in (n * (Double.pi / period)).sin().square() },
        window("HammingWindow") { n, period in
            let alpha = 25.0 / 46.0
            return alpha - (n * (2 * Double.pi / period)).cos() * (1 - alpha)
        },
        window("BlackmanWindow") { n, period in
            0.42 - (n * (2 * Double.pi / period)).cos() * 0.5 + (n * (4 * Double.pi / period)).cos() * 0.08
        },
    ]

    /// `f(n, N)` over n = 0..<size, with N = size (periodic) or size - 1 (symmetric).
    private static func window(_ name: String, _ f: @escaping (Tensor, Double) -> Tensor) -> ONNXOperator {
        ONNXOperator(name, since: 17) { context in
            guard let sizes = try context.ints(0), sizes.count == 1, sizes[0] >= 0 else {
                throw context.fail("size must be one non-negative integer")
            }
            let size = sizes[0]
            try context.checkSize([size])
            let code = Int32(context.int("output_datatype", 1))
            guard let dtype = ONNXElementType.dtype(code) else { throw context.fail("output_datatype \(ONNXElementType.name(code)) is not supported") }
            let period = Double(context.int("periodic", 1) != 0 ? size : size - 1)
            let n = Tensor(doubles: (0..<size).map(Double.init), shape: [size], dtype: .float64)
            return [f(n, period).cast(to: dtype)]
        }
    }
}
