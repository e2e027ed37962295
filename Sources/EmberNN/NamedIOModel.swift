import Ember

/// A model whose inputs and outputs have names, and that may have several of each (Keras's
/// functional `Model`): `fit`, `evaluate` and `predict` feed it a batch's tensors by name and
/// give each output its own loss and metrics.
public protocol NamedIOModel: Layer {
    var inputNames: [String] { get }
    var outputNames: [String] { get }
    /// The outputs by name, from every input by name.
    func callAsFunction(_ inputs: [String: Tensor]) -> [String: Tensor]
}

extension FunctionalModel: NamedIOModel {}
