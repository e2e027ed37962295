import Ember

/// Layers applied one after another; their state keys are "0", "1", ... as in PyTorch.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    public convenience init(_ layers: any Layer...) {
        self.init(layers)
    }

    public func forward(_ x: Tensor) -> Tensor {
        layers.reduce(x) { $1($0) }
    }

    override func declaredMembers() -> (slots: [(String, TensorSlot)], children: [(String, Module)]) {
        ([], layers.enumerated().map { (String($0.offset), $0.element) })
    }
}

/// Flattens axes `startAxis...endAxis` into one (by default all but the batch axis).
public final class Flatten: Module, Layer {
    public let startAxis: Int
    public let endAxis: Int
    public init(startAxis: Int = 1, endAxis: Int = -1) {
        self.startAxis = startAxis
        self.endAxis = endAxis
    }
    public func forward(_ x: Tensor) -> Tensor { x.flattened(from: startAxis, to: endAxis) }
}

/// Passes its input through: a placeholder where an architecture optionally has a layer.
public final class Identity: Module, Layer {
    public override init() {}
    public func forward(_ x: Tensor) -> Tensor { x }
}
