import Ember

/// A layer of several tensors in and one out (Keras's merge layers): called on an array of
/// tensors, or of symbolic tensors in a functional model.
public protocol MergeLayer: Module {
    func merge(_ inputs: [Tensor]) -> Tensor
}

extension MergeLayer {
    public func callAsFunction(_ inputs: [Tensor]) -> Tensor {
        recordingCall { merge(inputs) }
    }
}

/// Keras's `Concatenate`: the inputs joined along `axis` of the batched tensors (the default,
/// -1, is the feature axis).
public final class Concatenate: Module, MergeLayer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }

    public func merge(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "Concatenate: needs at least one input")
        return Tensor.concatenate(inputs, axis: axis)
    }
}

/// Keras's `Add`: the elementwise sum of inputs of one shape.
public final class Add: Module, MergeLayer {
    public override init() {}

    public func merge(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "Add: needs at least one input")
        for input in inputs.dropFirst() where input.shape != inputs[0].shape {
            preconditionFailure("Add: the inputs must have one shape, got \(inputs.map(\.shape))")
        }
        return inputs.dropFirst().reduce(inputs[0], +)
    }
}
