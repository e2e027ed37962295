import Ember

/// `--precision` of the inference commands (predict, embed, generate): fp32, or bf16
/// (autocast: products in bfloat16 with float32 accumulation; the weights stay float32).
func inferencePrecision(_ value: String) throws -> Precision {
    guard let precision = Precision(rawValue: value), precision != .fp16 else {
        throw CommandError("--precision \(value): expected fp32 or bf16")
    }
    return precision
}

/// The help of the inference commands' `--precision`.
let inferencePrecisionHelp = "fp32, or bf16 (autocast: matrix products in bfloat16; native on CPUs with AVX512-BF16)."
