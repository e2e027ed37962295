// PLACEHOLDER until the convolution family lands (being written now).
enum Convolution {
    static func conv2dSpec(_ c: ConvConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError("conv2d", "unavailable") }
    static func backwardInputSpec(_ c: ConvConfig, _ s: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError("conv2d", "unavailable") }
    static func backwardWeightSpec(_ c: ConvConfig, _ s: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError("conv2d", "unavailable") }
    static func conv2dVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] { [] }
    static func backwardInputVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] { [] }
    static func backwardWeightVJP(_ c: ConvConfig, _ inputs: [Tensor], _ g: Tensor, _ needed: [Bool]) -> [Tensor?] { [] }
}
