// PLACEHOLDER until the pooling family lands (being written now).
enum Pooling {
    static func poolSpec(_ name: String, _ c: PoolConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError(name, "unavailable") }
    static func maxPoolBackwardSpec(_ c: PoolConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError("pool", "unavailable") }
    static func avgPoolBackwardSpec(_ c: PoolConfig, _ s: [Int], _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec { throw ShapeError("pool", "unavailable") }
    static func maxPoolVJP(_ c: PoolConfig, _ x: Tensor, _ g: Tensor) -> Tensor? { nil }
    static func maxPoolBackwardVJP(_ c: PoolConfig, _ inputs: [Tensor], _ g: Tensor) -> [Tensor?] { [] }
    static func avgPoolVJP(_ c: PoolConfig, _ x: Tensor, _ g: Tensor) -> Tensor? { nil }
    static func avgPoolBackwardVJP(_ c: PoolConfig, _ g: Tensor) -> Tensor? { nil }
}
